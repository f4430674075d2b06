// Ranking knobs for the side-by-side comparison. Each knob is one query parameter of
// GET /v1/articles/<id>/recommendations; to add a knob, add an entry here (the form,
// the request and the column summary follow from this list).

import { h } from "./dom.js";

export const KNOBS = [
  { name: "k", label: "Items per list (k)", type: "number", min: 1, max: 50, step: 1 },
  { name: "min_score", label: "Minimum score", type: "number", min: 0, max: 1, step: 0.01 },
  { name: "tag", label: "Only with tag", type: "text" },
  { name: "since", label: "Published since", type: "date" },
  { name: "exclude", label: "Exclude ids (comma-separated)", type: "text" },
  { name: "tag_boost", label: "Tag boost (0–1)", type: "number", min: 0, max: 1, step: 0.05 },
  { name: "recency_half_life_days", label: "Recency half-life (days, 0 = off)", type: "number", min: 0, step: 1 },
  { name: "max_age_days", label: "Maximum age (days, 0 = off)", type: "number", min: 0, step: 1 },
  { name: "mmr_lambda", label: "Diversity: MMR λ (1 = off)", type: "number", min: 0, max: 1, step: 0.05 },
];

export function buildKnobs(container) {
  container.replaceChildren(
    ...KNOBS.map((knob) => {
      const id = `knob-${knob.name}`;
      const { name, label, ...attrs } = knob;
      return h(
        "div",
        { class: "knob" },
        h("label", { for: id }, label),
        h("input", { id, name, ...attrs, "data-knob": name }),
      );
    }),
  );
}

/** The knobs that are set, as query parameters: {min_score: "0.5", ...}. */
export function knobParams(form) {
  const params = {};
  for (const knob of KNOBS) {
    const value = form.elements[knob.name].value.trim();
    if (value !== "") params[knob.name] = value;
  }
  return params;
}

export function clearKnobs(form) {
  for (const knob of KNOBS) form.elements[knob.name].value = "";
}

export function describeKnobs(params) {
  const parts = Object.entries(params).map(([name, value]) => `${name} = ${value}`);
  return parts.length ? parts.join(" · ") : "";
}
