// A/B tests of ranking knobs, through the experiments API (API key required, reads
// included):
//   GET  /v1/rules/experiments            {"experiments": [experiment, ...]}, newest first
//   POST /v1/rules/experiments            {"id", "variants": [{"name", "knobs", "share"}]}
//   POST /v1/rules/experiments/<id>/stop  {"promote": variant name or absent}
//   GET/DELETE /v1/rules/knobs            {"knobs": {name: value}, "promoted": {name: value}}
// experiment = {id, status, variants: [{name, knobs, share}], started, stopped, promoted,
// who, results}. A server without these routes (a plain 404 "not-found") gets no panel.

import { ApiError, api, getKey } from "./api.js";
import { h, showError } from "./dom.js";
import { EXPERIMENT_KNOBS } from "./knobs.js";
import { renderResults } from "./results.js";

const MIN_VARIANTS = 2;
const MAX_VARIANTS = 8; // recommender/experiments.py MAX_VARIANTS
const NAMES = "ABCDEFGH";
const KEY_HINT = "A/B tests need the API key: it is typed once, at the top of the page.";
const NUMBER = new Intl.NumberFormat("en", { maximumFractionDigits: 3 });
const SHARE = new Intl.NumberFormat("en", { style: "percent", maximumFractionDigits: 2 });

// -- the form to start one ----------------------------------------------------------------

const blankVariant = (n) => ({ name: NAMES[n] || "", share: "1", knobs: {} });

function variantField(n, part, field, label, attrs) {
  const id = `variant-${n}-${part}`;
  return h(
    "div",
    { class: "knob" },
    h("label", { for: id }, label),
    // data-field is the API's name for the value, so its errors find their input.
    h("input", { id, name: id, "data-field": field, ...attrs }),
  );
}

function variantFieldset(n, values, count, remove) {
  const where = `variants.${n}`;
  return h(
    "fieldset",
    { class: "variant", "data-index": n },
    h("legend", {}, `Variant ${n + 1}`, n === 0 ? " (control)" : ""),
    h(
      "div",
      { class: "knob-grid" },
      variantField(n, "name", `${where}.name`, "Name", {
        type: "text",
        value: values.name,
        maxlength: 64,
        spellcheck: "false",
        autocomplete: "off",
      }),
      variantField(n, "share", `${where}.share`, "Share (weight)", { type: "number", value: values.share, min: 0, step: "any" }),
      EXPERIMENT_KNOBS.map((knob) =>
        variantField(n, `knob-${knob.name}`, `${where}.knobs.${knob.name}`, knob.label, {
          type: "number",
          min: knob.min,
          max: knob.max,
          step: knob.step,
          value: values.knobs[knob.name] ?? "",
          placeholder: "served",
          "data-knob": knob.name,
        }),
      ),
    ),
    count > MIN_VARIANTS
      ? h("button", { type: "button", class: "small secondary", onclick: () => remove(n) }, `Remove variant ${n + 1}`)
      : null,
  );
}

/** The variants as typed: [{name, share, knobs: {name: "0.3"}}], strings as in the inputs. */
function readVariants(box) {
  return [...box.querySelectorAll("fieldset.variant")].map((fieldset) => {
    const knobs = {};
    for (const input of fieldset.querySelectorAll("input[data-knob]")) {
      if (input.value.trim() !== "") knobs[input.dataset.knob] = input.value.trim();
    }
    const value = (part) => fieldset.querySelector(`input[id$='-${part}']`).value.trim();
    return { name: value("name"), share: value("share"), knobs };
  });
}

/** The POST body: unset knobs are left out (the variant serves them as they are). */
export function experimentBody(id, variants) {
  return {
    id: id.trim(),
    variants: variants.map((v) => ({
      name: v.name,
      ...(v.share === "" ? {} : { share: Number(v.share) }),
      knobs: Object.fromEntries(Object.entries(v.knobs).map(([name, value]) => [name, Number(value)])),
    })),
  };
}

/** Show an API error next to the form and mark the input it names (problem.field). */
function showFormError(form, node, error) {
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
  showError(node, error);
  const field = error && error.problem && error.problem.field;
  const input = field ? form.querySelector(`[data-field="${CSS.escape(field)}"]`) : null;
  if (!input) return;
  const legend = input.closest("fieldset.variant")?.querySelector("legend")?.textContent;
  const label = form.querySelector(`label[for="${input.id}"]`).textContent;
  node.textContent = `${legend ? `${legend}, ` : ""}${label}: ${error.message}`;
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", node.id);
  input.focus();
}

// -- the list -----------------------------------------------------------------------------

// The API keeps knobs sorted by name; the page lists them in the form's order.
const KNOB_ORDER = EXPERIMENT_KNOBS.map((knob) => knob.name);
const knobRank = (name) => (KNOB_ORDER.includes(name) ? KNOB_ORDER.indexOf(name) : KNOB_ORDER.length);

function describeKnobs(knobs) {
  const parts = Object.entries(knobs || {})
    .sort(([a], [b]) => knobRank(a) - knobRank(b))
    .map(([name, value]) => `${name} = ${NUMBER.format(value)}`);
  return parts.length ? parts.join(" · ") : "served knobs";
}

function when(iso) {
  return iso ? iso.replace("T", " ").slice(0, 16) : "";
}

function describeExperiment(experiment) {
  const parts = [`started ${when(experiment.started)}${experiment.who ? ` by ${experiment.who}` : ""}`];
  if (experiment.stopped) parts.push(`stopped ${when(experiment.stopped)}`);
  if (experiment.promoted) parts.push(`${experiment.promoted} made the default`);
  return parts.join(" · ");
}

/** Stopping changes what every reader sees: the buttons first ask, in the page. */
function confirmStop(slot, experiment, promote, stop) {
  const text = promote
    ? `Stop ${experiment.id} and serve variant ${promote}'s knobs (${describeKnobs(
        experiment.variants.find((v) => v.name === promote).knobs,
      )}) to every reader?`
    : `Stop ${experiment.id}? Every reader then gets the served knobs.`;
  const confirm = h("button", { type: "button", class: "danger", onclick: () => stop(experiment.id, promote) }, "Confirm");
  slot.replaceChildren(
    h(
      "div",
      { class: "confirm", role: "group", "aria-label": "Confirm stopping" },
      h("p", {}, text),
      confirm,
      " ",
      h("button", { type: "button", class: "secondary", onclick: () => slot.replaceChildren() }, "Cancel"),
    ),
  );
  confirm.focus();
}

function variantsTable(experiment, slot, stop) {
  const running = experiment.status === "running";
  return h(
    "table",
    { class: "variants" },
    h("caption", {}, "Variants"),
    h(
      "thead",
      {},
      h("tr", {}, ["Variant", "Share", "Knobs", running ? "Action" : null].filter(Boolean).map((t) => h("th", { scope: "col" }, t))),
    ),
    h(
      "tbody",
      {},
      experiment.variants.map((variant) =>
        h(
          "tr",
          { "data-variant": variant.name },
          h(
            "th",
            { scope: "row" },
            variant.name,
            experiment.promoted === variant.name ? h("span", { class: "badge promoted" }, "promoted") : null,
          ),
          h("td", {}, SHARE.format(variant.share)),
          h("td", {}, describeKnobs(variant.knobs)),
          running
            ? h(
                "td",
                {},
                h(
                  "button",
                  { type: "button", class: "small secondary", onclick: () => confirmStop(slot, experiment, variant.name, stop) },
                  `Stop and promote ${variant.name}`,
                ),
              )
            : null,
        ),
      ),
    ),
  );
}

function renderExperiment(experiment, stop, error) {
  const headingId = `experiment-${experiment.id}`;
  const slot = h("div", { class: "confirm-slot" });
  const running = experiment.status === "running";
  return h(
    "article",
    { class: "experiment", "data-id": experiment.id, "aria-labelledby": headingId },
    h(
      "h4",
      { id: headingId, tabindex: -1 },
      experiment.id,
      " ",
      h("span", { class: `badge status ${experiment.status}` }, experiment.status),
    ),
    h("p", { class: "hint" }, describeExperiment(experiment)),
    variantsTable(experiment, slot, stop),
    renderResults(experiment.results),
    running
      ? h(
          "div",
          { class: "actions" },
          h("button", { type: "button", class: "danger", onclick: () => confirmStop(slot, experiment, null, stop) }, "Stop test"),
        )
      : null,
    slot,
    error ? h("p", { class: "error", role: "alert" }, error.message) : null,
  );
}

function formatValue(value) {
  if (typeof value === "boolean") return value ? "on" : "off";
  return typeof value === "number" ? NUMBER.format(value) : String(value);
}

function renderServed(container, served, reset) {
  const promoted = served.promoted || {};
  const anyPromoted = Object.keys(promoted).length > 0;
  container.replaceChildren(
    h(
      "table",
      { class: "served" },
      h("caption", {}, "Knobs served to requests that set none"),
      h("thead", {}, h("tr", {}, ["Knob", "Value", "From"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        Object.entries(served.knobs || {}).map(([name, value]) =>
          h(
            "tr",
            { "data-knob": name, class: name in promoted ? "promoted" : null },
            h("th", { scope: "row" }, name),
            h("td", {}, formatValue(value)),
            h("td", {}, name in promoted ? h("span", { class: "badge promoted" }, "promoted") : "settings"),
          ),
        ),
      ),
    ),
    anyPromoted
      ? h("button", { type: "button", class: "secondary", id: "knobs-reset", onclick: reset }, "Reset to the settings' knobs")
      : h("p", { class: "hint" }, "No knob promoted: all come from the settings."),
  );
}

// -- the panel ----------------------------------------------------------------------------

/**
 * Wires the A/B test panel. `parts` are the page's elements: panel, body (what needs the
 * key), form, variants (the box of variant fieldsets), add (button), error, list, served,
 * keyHint, message.
 * `onAvailable(bool)` learns whether the server has the routes; `askKey()` shows the key
 * box (the panel's hint has a button for it). Returns {reload}.
 */
export function setupExperiments(parts, { onAvailable, askKey }) {
  const { panel, body, form, variants, add, error, list, served, keyHint, message } = parts;
  const stopErrors = new Map(); // experiment id -> its last error, shown beside it

  function drawVariants(values) {
    const remove = (n) => drawVariants(readVariants(variants).filter((_, i) => i !== n));
    variants.replaceChildren(...values.map((v, n) => variantFieldset(n, v, values.length, remove)));
    add.disabled = values.length >= MAX_VARIANTS;
  }

  async function reload() {
    try {
      const [answer, knobs] = await Promise.all([api.experiments(), api.servedKnobs()]);
      show(true);
      list.replaceChildren(
        ...(answer.experiments.length
          ? answer.experiments.map((e) => renderExperiment(e, stop, stopErrors.get(e.id)))
          : [h("p", { class: "hint" }, "No A/B test yet.")]),
      );
      renderServed(served, knobs, reset);
    } catch (failure) {
      if (!(failure instanceof ApiError)) {
        // The server could not be reached: say so where the list would be.
        show(true);
        list.replaceChildren(h("p", { class: "error", role: "alert" }, `A/B tests unavailable: ${failure.message}`));
        return;
      }
      if (failure.status === 404) {
        panel.hidden = true; // the server has no experiments routes
        onAvailable(false);
        return;
      }
      const needsKey = failure.status === 401 || failure.status === 403;
      show(!needsKey);
      keyHint.replaceChildren(
        needsKey && getKey() ? `${KEY_HINT} ${failure.message} ` : `${KEY_HINT} `,
        h("button", { type: "button", class: "small secondary", onclick: askKey }, "Enter the API key"),
      );
      list.replaceChildren(needsKey ? [] : h("p", { class: "error", role: "alert" }, failure.message));
      served.replaceChildren();
    }
  }

  function show(withKey) {
    panel.hidden = false;
    onAvailable(true);
    keyHint.hidden = withKey;
    body.hidden = !withKey;
  }

  async function stop(id, promote) {
    try {
      await api.stopExperiment(id, promote);
      stopErrors.delete(id);
      message.textContent = promote ? `Stopped ${id}; ${promote}'s knobs are served.` : `Stopped ${id}.`;
    } catch (failure) {
      stopErrors.set(id, failure);
    }
    await reload();
    // The buttons pressed are gone with the old list: focus goes to the test's heading.
    document.getElementById(`experiment-${id}`)?.focus();
  }

  async function reset() {
    try {
      await api.resetKnobs();
      message.textContent = "The settings' knobs are served again.";
    } catch (failure) {
      message.textContent = failure.message;
    }
    await reload();
    document.getElementById("served-heading").focus(); // the reset button is gone
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const experiment = experimentBody(form.elements["experiment-id"].value, readVariants(variants));
    button.disabled = true;
    try {
      await api.startExperiment(experiment);
      showFormError(form, error, null);
      message.textContent = `Started ${experiment.id}.`;
      await reload();
    } catch (failure) {
      showFormError(form, error, failure);
    } finally {
      button.disabled = false;
    }
  });
  add.addEventListener("click", () => {
    const values = readVariants(variants);
    drawVariants([...values, blankVariant(values.length)]);
    variants.querySelector("fieldset.variant:last-of-type input").focus();
  });
  drawVariants([blankVariant(0), blankVariant(1)]);
  return { reload };
}
