// The editor preview page: find or open an article, see its two blocks as readers
// will, compare ranking knobs side by side, preview a draft, and (where the server
// has editorial rules) pin and block, and run A/B tests of ranking knobs. All data goes
// into the DOM as text.

import { api, forgetKey, getKey, setKey } from "./api.js";
import { formatAge, h, safeUrl, showError } from "./dom.js";
import { setupExperiments } from "./experiments.js";
import { buildKnobs, clearKnobs, describeKnobs, knobParams } from "./knobs.js";
import { renderRecommendations } from "./render.js";
import { itemActions, loadRules, pinnedIds, renderRules, saveRules } from "./rules.js";
import { setupSearch } from "./search.js";

const $ = (id) => document.getElementById(id);
const HASH_PREFIX = "#article=";
const STATUS_REFRESH_MS = 60_000;

let current = null; // {id, article, data, rules} of the open article
let opening = 0;
let experiments = null; // {reload} of the A/B test panel
let experimentsAvailable = false; // the server has the experiments routes
let keyAsked = false; // the editor asked for the key box (A/B test panel)

// -- index status ---------------------------------------------------------------------

async function loadStatus() {
  const node = $("index-status");
  try {
    const s = await api.status();
    node.textContent =
      `Index ${s.index_version} · ${s.articles} articles · built ${formatAge(s.age_seconds)} ago`;
    node.title = `snapshot ${s.snapshot_version}, model ${s.model_id}, built ${s.created}`;
  } catch (error) {
    node.textContent = `Index status unavailable: ${error.message}`;
  }
}

// -- the open article -----------------------------------------------------------------

function describeArticle(article) {
  const parts = [article.id];
  if (article.published) parts.push(`published ${article.published.slice(0, 10)}`);
  if (article.status === "draft") parts.push("draft (never suggested)");
  if (article.status === "scheduled") parts.push("scheduled (suggested from its publication time)");
  if (article.featured) parts.push("featured");
  if (article.tags && article.tags.length) parts.push(`tags: ${article.tags.join(", ")}`);
  const meta = [parts.join(" · ")];
  const site = safeUrl(article.url);
  if (site) meta.push(" · ", h("a", { href: site, target: "_blank", rel: "noopener noreferrer" }, "view on the site"));
  return meta;
}

function markPinned(data, pinned) {
  const mark = (items) => (items || []).map((item) => ({ ...item, pinned: pinned.has(item.id) }));
  return { ...data, related: mark(data.related), featured: mark(data.featured) };
}

function renderCurrent() {
  const body = $("column-current").querySelector(".column-body");
  const pinned = pinnedIds(current.rules);
  renderRecommendations(body, markPinned(current.data, pinned), {
    actions: itemActions(current.rules, changeRules),
    mostClicked: true,
  });
  const panel = $("rules-panel");
  panel.hidden = !current.rules.available;
  showKeyForm();
  if (current.rules.available) renderRules($("rules-body"), current.rules, changeRules);
}

async function changeRules(rules) {
  const id = current.id;
  try {
    await saveRules(id, rules);
    await openArticle(id, { focus: false });
  } catch (error) {
    current.rules = { ...current.rules, error };
    renderCurrent();
  }
}

async function openArticle(id, { focus }) {
  const mine = ++opening;
  const panel = $("article-panel");
  const heading = $("article-title");
  panel.hidden = false;
  showError($("article-error"), null);
  heading.textContent = "Loading…";
  $("article-meta").replaceChildren();
  try {
    const [article, data, rules] = await Promise.all([
      api.article(id),
      api.recommendations(id),
      loadRules(id),
    ]);
    if (mine !== opening) return;
    current = { id, article, data, rules };
    heading.textContent = article.title;
    $("article-meta").replaceChildren(...describeArticle(article));
    document.title = `${article.title} · Editor preview`;
    renderCurrent();
    await compare();
  } catch (error) {
    if (mine !== opening) return;
    current = null;
    heading.textContent = id;
    showError($("article-error"), error);
    for (const column of ["column-current", "column-knobs"]) {
      $(column).querySelector(".column-body").replaceChildren();
    }
    $("rules-panel").hidden = true;
  }
  if (focus) heading.focus();
}

function articleFromHash() {
  if (!location.hash.startsWith(HASH_PREFIX)) return null;
  try {
    return decodeURIComponent(location.hash.slice(HASH_PREFIX.length)) || null;
  } catch {
    return null;
  }
}

function showArticle(id) {
  const hash = HASH_PREFIX + encodeURIComponent(id);
  if (location.hash === hash) openArticle(id, { focus: true });
  else location.hash = hash; // hashchange opens it; Back returns to the previous one
}

// -- knobs ------------------------------------------------------------------------------

async function compare() {
  const column = $("column-knobs");
  const body = column.querySelector(".column-body");
  const summary = column.querySelector(".column-summary");
  const params = knobParams($("knobs-form"));
  summary.textContent = describeKnobs(params);
  if (!current) return;
  if (!Object.keys(params).length) {
    body.replaceChildren(h("p", { class: "hint" }, "Set a knob and choose Compare."));
    return;
  }
  try {
    const data = await api.recommendations(current.id, params);
    const shown = new Set([...current.data.related, ...current.data.featured].map((item) => item.id));
    renderRecommendations(body, data, { isNew: (item) => !shown.has(item.id) });
  } catch (error) {
    body.replaceChildren(h("p", { class: "error", role: "alert" }, error.message));
  }
}

// -- drafts -----------------------------------------------------------------------------

async function previewDraft(event) {
  event.preventDefault();
  const form = event.target;
  const results = $("draft-results");
  const error = $("draft-error");
  const button = form.querySelector("button[type=submit]");
  const draft = {
    title: form.elements.title.value,
    body: form.elements.body.value,
    tags: form.elements.tags.value.split(",").map((t) => t.trim()).filter(Boolean),
  };
  showError(error, null);
  button.disabled = true;
  results.replaceChildren(h("p", { class: "hint" }, "Ranking… (the server's first draft also loads the model)"));
  try {
    renderRecommendations(results, await api.draft(draft));
  } catch (failure) {
    results.replaceChildren();
    showError(error, failure);
  } finally {
    button.disabled = false;
  }
}

// -- the key ----------------------------------------------------------------------------

/**
 * The key box shows where it unlocks something: an open article's rules, or the A/B tests
 * once a key is set or the editor asks for it. Hidden until then, it keeps the search box
 * first in the tab order.
 */
function showKeyForm() {
  const forExperiments = experimentsAvailable && (keyAsked || Boolean(getKey()));
  $("key-form").hidden = !(forExperiments || (current && current.rules.available));
}

function askKey() {
  keyAsked = true;
  showKeyForm();
  $("api-key").focus();
}

function keyChanged() {
  showKeyState();
  if (current) openArticle(current.id, { focus: false });
  experiments.reload();
}

function showKeyState() {
  $("key-state").textContent = getKey() ? "A key is set for this tab." : "No key set.";
}

function setupKey() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("api-key");
    if (!input.value.trim()) return;
    setKey(input.value.trim());
    input.value = "";
    keyChanged();
  });
  $("forget-key").addEventListener("click", () => {
    forgetKey();
    keyChanged();
  });
  showKeyState();
}

// -- start ------------------------------------------------------------------------------

function start() {
  buildKnobs($("knobs"));
  $("knobs-form").addEventListener("submit", (event) => {
    event.preventDefault();
    compare();
  });
  $("knobs-clear").addEventListener("click", () => {
    clearKnobs($("knobs-form"));
    compare();
  });
  $("draft-form").addEventListener("submit", previewDraft);
  experiments = setupExperiments(
    {
      panel: $("experiments-panel"),
      body: $("experiments-body"),
      form: $("experiment-form"),
      variants: $("experiment-variants"),
      add: $("variant-add"),
      error: $("experiment-error"),
      list: $("experiments-list"),
      served: $("served-knobs"),
      keyHint: $("experiments-key"),
      message: $("experiments-message"),
    },
    {
      onAvailable: (available) => {
        experimentsAvailable = available;
        showKeyForm();
      },
      askKey,
    },
  );
  setupKey();
  setupSearch({
    form: $("search-form"),
    input: $("search"),
    list: $("search-results"),
    message: $("search-message"),
    onOpen: showArticle,
  });
  window.addEventListener("hashchange", () => {
    const id = articleFromHash();
    if (id) openArticle(id, { focus: true });
  });
  const initial = articleFromHash();
  if (initial) openArticle(initial, { focus: false });
  loadStatus();
  experiments.reload();
  setInterval(loadStatus, STATUS_REFRESH_MS);
}

start();
