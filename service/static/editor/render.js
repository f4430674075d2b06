// The two blocks as readers see them, with what editors need on top: score and
// explanation. Explanation keys are rendered generically, so new ones (tag, recency,
// rule...) show up without changes here; readers' signals (ctr, ctr_boost, impressions,
// clicks: docs/signals.md) get a group of their own, and the related block a "most
// clicked" view.

import { h, percent, safeUrl } from "./dom.js";

const NUMBER_FORMAT = new Intl.NumberFormat("en", { maximumFractionDigits: 3 });
// Impressions and clicks are time-decayed, so fractional: one decimal is plenty.
const COUNT_FORMAT = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
const SIGNALS = new Set(["ctr", "ctr_boost", "impressions", "clicks"]);
let mostClickedFirst = false; // the related block's view, kept while the page lives

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
  const entries = Object.entries(explanation || {}).filter(([key]) => !SIGNALS.has(key));
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

const hasNumber = (value) => typeof value === "number" && Number.isFinite(value);

/** Readers' impressions, clicks, click-through and the boost it gave, once counted. */
export function renderSignals(explanation) {
  if (!explanation || !hasNumber(explanation.ctr)) return null;
  const { impressions, clicks, ctr, ctr_boost: boost } = explanation;
  const entry = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
  return h(
    "dl",
    { class: "explanation signals", "aria-label": "Reader signals" },
    entry("impressions", hasNumber(impressions) ? COUNT_FORMAT.format(impressions) : "–"),
    entry("clicks", hasNumber(clicks) ? COUNT_FORMAT.format(clicks) : "–"),
    entry("click-through", percent(ctr)),
    entry("ctr boost", hasNumber(boost) ? `× ${NUMBER_FORMAT.format(boost)}` : "–"),
  );
}

const clicksOf = (item) => (item.explanation && hasNumber(item.explanation.clicks) ? item.explanation.clicks : null);

/**
 * The items by clicks, most first; those without clicks last, in their ranked order.
 * Returns [{item, rank}] with rank the item's 0-based place in `items`.
 */
export function byClicks(items) {
  return items
    .map((item, rank) => ({ item, rank, clicks: clicksOf(item) }))
    .sort((a, b) => {
      if (a.clicks === null || b.clicks === null) {
        return (a.clicks === null) - (b.clicks === null) || a.rank - b.rank;
      }
      return b.clicks - a.clicks || a.rank - b.rank;
    })
    .map(({ item, rank }) => ({ item, rank }));
}

/**
 * One item. `options.actions(item, index)` may return buttons (pin, block...);
 * `options.isNew(item)` marks items the other column does not have.
 */
export function renderItem(item, index, { featuredBlock = false, actions, isNew, rankedAt } = {}) {
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
      rankedAt === undefined ? null : [" · ", h("span", { class: "hint ranked" }, `ranked ${rankedAt + 1}`)],
      rankedAt === undefined ? null : h("span", { class: "click-count" }, clickCount(item)),
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
    renderSignals(item.explanation),
  );
  const buttons = actions ? actions(item, index, featuredBlock) : null;
  if (buttons && buttons.length) li.append(h("div", { class: "item-actions" }, ...buttons));
  return li;
}

function clickCount(item) {
  const clicks = clicksOf(item);
  if (clicks === null) return "no clicks counted";
  return `${COUNT_FORMAT.format(clicks)} click${clicks === 1 ? "" : "s"}`;
}

function itemList(items, options, mostClicked) {
  if (!mostClicked) return h("ol", {}, items.map((item, i) => renderItem(item, i, options)));
  return h(
    "ol",
    { class: "most-clicked" },
    byClicks(items).map(({ item, rank }) => renderItem(item, rank, { ...options, rankedAt: rank })),
  );
}

/** The toggle between the ranked order and the most clicked first. */
function clickToggle(block, items, options) {
  const toggle = h(
    "button",
    { type: "button", class: "small secondary click-toggle", "aria-pressed": String(mostClickedFirst) },
    "Most clicked first",
  );
  toggle.addEventListener("click", () => {
    mostClickedFirst = !mostClickedFirst;
    toggle.setAttribute("aria-pressed", String(mostClickedFirst));
    block.querySelector("ol").replaceWith(itemList(items, options, mostClickedFirst));
  });
  return toggle;
}

/**
 * One block. `options.mostClicked` offers the "most clicked first" view when any item
 * has clicks counted.
 */
export function renderBlock(title, items, options = {}) {
  const block = h("section", { class: "block", "aria-label": title });
  const { mostClicked, ...itemOptions } = options;
  const offerClicks = Boolean(mostClicked) && items.some((item) => clicksOf(item) !== null);
  block.append(
    h("div", { class: "block-heading" }, h("h4", {}, title), offerClicks ? clickToggle(block, items, itemOptions) : null),
  );
  if (!items.length) {
    block.append(h("p", { class: "hint" }, "No items."));
    return block;
  }
  block.append(itemList(items, itemOptions, offerClicks && mostClickedFirst));
  return block;
}

/** Both blocks of a recommendations answer into `container`. */
export function renderRecommendations(container, data, options = {}) {
  const { mostClicked, ...others } = options;
  container.replaceChildren(
    renderBlock("Related articles", data.related || [], options),
    renderBlock("Featured articles", data.featured || [], { ...others, featuredBlock: true }),
  );
}
