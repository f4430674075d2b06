// How the variants of an A/B test did, per block, from the `results` member of
// GET /v1/rules/experiments: {"related": [row, ...], "featured": [...]}, one row per
// variant, the control first; row = {variant, impressions, clicks, ctr, ctr_95: [low,
// high], p_value (null for the control), significant}. `results` is null until readers'
// events are counted. What the numbers mean: docs/signals.md.

import { h, percent } from "./dom.js";

const BLOCKS = [
  ["related", "Related articles"],
  ["featured", "Featured articles"],
];
const COUNT = new Intl.NumberFormat("en");

/** "p = 0.41", "p = 0.003", "p < 0.001" */
export function formatP(p) {
  if (p < 0.001) return "p < 0.001";
  return `p = ${p < 0.01 ? p.toFixed(3) : p.toFixed(2)}`;
}

/** One variant against the control, in words: "B is better than A, p = 0.003". */
export function verdict(row, control) {
  if (row.p_value === null || row.p_value === undefined) {
    return `${row.variant} against ${control.variant}: not enough impressions yet`;
  }
  if (!row.significant) {
    return `${row.variant} against ${control.variant}: no significant difference yet (${formatP(row.p_value)})`;
  }
  const better = row.ctr > control.ctr ? "better" : "worse";
  return `${row.variant} is ${better} than ${control.variant}, ${formatP(row.p_value)}`;
}

function resultRow(row, index, control) {
  const [low, high] = row.ctr_95;
  return h(
    "tr",
    { "data-variant": row.variant },
    h("th", { scope: "row" }, row.variant, index === 0 ? h("span", { class: "hint" }, " (control)") : null),
    h("td", {}, COUNT.format(row.impressions)),
    h("td", {}, COUNT.format(row.clicks)),
    h("td", {}, percent(row.ctr)),
    h("td", {}, `${percent(low)} – ${percent(high)}`),
    h("td", { class: "verdict" }, index === 0 ? "–" : verdict(row, control)),
  );
}

function blockResults(name, title, rows) {
  const control = rows[0];
  return h(
    "table",
    { class: "results", "data-block": name },
    h("caption", {}, `${title}: click-through by variant`),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Variant", "Impressions", "Clicks", "Click-through", "95% interval", `Against ${control.variant}`].map((label) =>
          h("th", { scope: "col" }, label),
        ),
      ),
    ),
    h("tbody", {}, rows.map((row, index) => resultRow(row, index, control))),
  );
}

/** The per-block tables of an experiment, or a note that no events were counted. */
export function renderResults(results) {
  const counted = results && Object.values(results).some((rows) => rows.some((row) => row.impressions > 0));
  if (!counted) return h("p", { class: "hint no-results" }, "No events counted yet.");
  const tables = BLOCKS.filter(([name]) => results[name] && results[name].length).map(([name, title]) =>
    blockResults(name, title, results[name]),
  );
  return tables.length ? h("div", { class: "result-tables" }, tables) : h("p", { class: "hint no-results" }, "No events counted yet.");
}
