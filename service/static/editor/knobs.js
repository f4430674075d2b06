// Ranking knobs for the side-by-side comparison. Each knob is one query parameter of
// GET /v1/articles/<id>/recommendations (the form, the request and the column summary
// follow from this list). The ranking knobs a request may set are the settings
// declared per_request (recommender/config.py REQUEST_KNOBS), handed over in the page
// (#request-knobs), as are their labels, limits and steps (#knob-limits), so the form
// offers and accepts exactly what the API does.

import { h } from "./dom.js";

const LIMITS = JSON.parse(document.getElementById("knob-limits")?.textContent || "{}");

export function numeric(name) {
  const { label, min, max, step } = LIMITS[name] || { label: name };
  const knob = { name, label, type: "number" };
  if (min !== null && min !== undefined) knob.min = min;
  if (max !== null && max !== undefined) knob.max = max;
  if (step !== null && step !== undefined) knob.step = step;
  return knob;
}

export const KNOBS = [
  numeric("k"),
  numeric("min_score"),
  { name: "tag", label: "Only with tag", type: "text" },
  { name: "since", label: "Published since", type: "date" },
  { name: "exclude", label: "Exclude ids (comma-separated)", type: "text" },
  ...JSON.parse(document.getElementById("request-knobs")?.textContent || "[]").map(numeric),
];

// The knobs an A/B test variant may set (recommender/config.py EXPERIMENT_KNOBS),
// handed over in the page like the limits.
export const EXPERIMENT_KNOBS = JSON.parse(
  document.getElementById("experiment-knobs")?.textContent || "[]",
).map(numeric);

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
