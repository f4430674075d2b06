// The two blocks as readers see them, with what editors need on top: score and
// explanation. Explanation keys are rendered generically, so new ones (tag, recency,
// rule...) show up without changes here.

import { h, safeUrl } from "./dom.js";

const NUMBER_FORMAT = new Intl.NumberFormat("en", { maximumFractionDigits: 3 });

function explanationValue(value) {
  if (Array.isArray(value)) {
    return value.length ? value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ") : "none";
  }
  if (typeof value === "number") return NUMBER_FORMAT.format(value);
  if (value && typeof value === "object") {
    // A split such as lexical_fields: "title 0.12 · body 0.3", leaving out empty parts.
    const parts = Object.entries(value)
      .filter(([, v]) => v !== 0 && v !== null)
      .map(([k, v]) => `${k} ${typeof v === "number" ? NUMBER_FORMAT.format(v) : String(v)}`);
    return parts.length ? parts.join(" · ") : "none";
  }
  return String(value);
}

export function renderExplanation(explanation) {
  const entries = Object.entries(explanation || {});
  if (!entries.length) return null;
  const list = h("dl", { class: "explanation" });
  for (const [key, value] of entries) {
    list.append(h("dt", {}, key.replaceAll("_", " ")), h("dd", {}, explanationValue(value)));
  }
  return list;
}

// The item's thumbnail, small: enough to recognise the picture readers will see. Its
// alt is empty because the title stands right beside it (a screen reader would
// otherwise read the title twice).
function thumbnail(item) {
  const src = safeUrl(item.image);
  if (!src) return null;
  return h("img", { class: "thumb", src, alt: "", loading: "lazy", width: 64, height: 36 });
}

/**
 * One item. `options.actions(item, index)` may return buttons (pin, block...);
 * `options.isNew(item)` marks items the other column does not have.
 */
export function renderItem(item, index, { featuredBlock = false, actions, isNew } = {}) {
  const site = safeUrl(item.url);
  const li = h(
    "li",
    { class: "item", "data-id": item.id },
    thumbnail(item),
    h(
      "div",
      {},
      featuredBlock ? h("span", { class: "badge featured" }, "Featured article") : null,
      isNew && isNew(item) ? h("span", { class: "badge new" }, "not in current list") : null,
      item.pinned ? h("span", { class: "badge pinned" }, "pinned") : null,
      h("a", { class: "item-title", href: `#article=${encodeURIComponent(item.id)}` }, item.title),
    ),
    item.summary ? h("p", { class: "teaser" }, item.summary) : null,
    h(
      "div",
      { class: "hint" },
      "score ",
      h("span", { class: "score" }, NUMBER_FORMAT.format(item.score)),
      " · ",
      item.id,
      site ? [" · ", h("a", { href: site, target: "_blank", rel: "noopener noreferrer" }, "on the site")] : null,
    ),
    renderExplanation(item.explanation),
  );
  const buttons = actions ? actions(item, index, featuredBlock) : null;
  if (buttons && buttons.length) li.append(h("div", { class: "item-actions" }, ...buttons));
  return li;
}

export function renderBlock(title, items, options = {}) {
  const block = h("section", { class: "block", "aria-label": title }, h("h4", {}, title));
  if (!items.length) {
    block.append(h("p", { class: "hint" }, "No items."));
    return block;
  }
  block.append(h("ol", {}, items.map((item, i) => renderItem(item, i, options))));
  return block;
}

/** Both blocks of a recommendations answer into `container`. */
export function renderRecommendations(container, data, options = {}) {
  container.replaceChildren(
    renderBlock("Related articles", data.related || [], options),
    renderBlock("Featured articles", data.featured || [], { ...options, featuredBlock: true }),
  );
}
