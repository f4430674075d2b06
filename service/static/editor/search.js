// Type-ahead over GET /v1/articles?q=... as an ARIA combobox: focus stays in the
// input, arrow keys move the highlighted option, Enter opens it (or searches at
// once when nothing is highlighted), Escape closes the list.

import { api } from "./api.js";
import { h } from "./dom.js";

const DELAY_MS = 150;

export function setupSearch({ form, input, list, message, onOpen }) {
  let results = [];
  let active = -1;
  let timer = 0;
  let latest = 0;

  function setActive(index) {
    active = index;
    [...list.children].forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) {
      const option = list.children[index];
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    setActive(-1);
  }

  function open() {
    if (!results.length) return;
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function choose(index) {
    const article = results[index];
    close();
    if (article) onOpen(article.id);
  }

  function show(items, query) {
    results = items;
    list.replaceChildren(
      ...items.map((article, i) =>
        h(
          "li",
          {
            id: `search-option-${i}`,
            role: "option",
            "aria-selected": "false",
            "data-id": article.id,
            // Keep focus in the input when an option is clicked.
            onmousedown: (event) => event.preventDefault(),
            onclick: () => choose(i),
          },
          article.title,
          h("span", { class: "hint" }, `${article.id}${article.status === "published" ? "" : ` · ${article.status}`}`),
        ),
      ),
    );
    setActive(-1);
    message.textContent = items.length
      ? `${items.length} article${items.length === 1 ? "" : "s"} match; use the arrow keys and Enter to open one.`
      : `No article title contains “${query}”.`;
    if (items.length) open();
    else close();
  }

  async function search(query) {
    const mine = ++latest;
    try {
      const page = await api.search(query);
      if (mine === latest) show(page.items, query);
    } catch (error) {
      if (mine === latest) {
        results = [];
        close();
        message.textContent = `Search failed: ${error.message}`;
      }
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const query = input.value.trim();
    if (!query) {
      latest++;
      results = [];
      close();
      message.textContent = "";
      return;
    }
    timer = setTimeout(() => search(query), DELAY_MS);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!results.length) return;
      event.preventDefault();
      if (list.hidden) open();
      const step = event.key === "ArrowDown" ? 1 : -1;
      const start = active < 0 && step < 0 ? results.length : active;
      setActive((start + step + results.length) % results.length);
    } else if (event.key === "Escape") {
      close();
    } else if (event.key === "Enter" && !list.hidden && active >= 0) {
      event.preventDefault();
      choose(active);
    }
  });

  input.addEventListener("blur", close);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    const query = input.value.trim();
    if (query) search(query);
  });
}
