// Pins and blocks, through the editorial rules API:
//   GET/PUT/DELETE /v1/articles/<id>/rules (API key required)
//   body {"pins": [{"article_id", "position"}], "blocks": [id, ...], "featured": true|false|null}
// A server without the route (GET answers a plain 404 "not-found", not
// "article-not-found") gets no controls at all.

import { ApiError, api, getKey } from "./api.js";
import { append, h } from "./dom.js";

// Positions are 1-based: 1 is the top slot.
const FIRST_POSITION = 1;

const EMPTY = Object.freeze({ pins: [], blocks: [], featured: null });

function normalise(rules) {
  return {
    pins: Array.isArray(rules && rules.pins) ? rules.pins : [],
    blocks: Array.isArray(rules && rules.blocks) ? rules.blocks : [],
    featured: rules && typeof rules.featured === "boolean" ? rules.featured : null,
  };
}

/**
 * What the server says about this article's rules:
 * {available: false} when the route does not exist;
 * {available: true, needsKey, rules, error} otherwise.
 */
export async function loadRules(articleId) {
  try {
    return { available: true, needsKey: false, rules: normalise(await api.getRules(articleId)) };
  } catch (error) {
    if (!(error instanceof ApiError)) return { available: false };
    if (error.status === 404 && error.problem.type !== "/problems/article-not-found") {
      return { available: false };
    }
    if (error.status === 401 || error.status === 403) {
      return { available: true, needsKey: true, rules: normalise(EMPTY), error };
    }
    if (error.status === 404) return { available: true, needsKey: false, rules: normalise(EMPTY) };
    return { available: true, needsKey: false, rules: normalise(EMPTY), error };
  }
}

export const edit = {
  pin: (rules, id, position) => ({
    ...rules,
    pins: [...rules.pins.filter((p) => p.article_id !== id), { article_id: id, position }],
    blocks: rules.blocks.filter((b) => b !== id),
  }),
  unpin: (rules, id) => ({ ...rules, pins: rules.pins.filter((p) => p.article_id !== id) }),
  block: (rules, id) => ({
    ...rules,
    blocks: [...rules.blocks.filter((b) => b !== id), id],
    pins: rules.pins.filter((p) => p.article_id !== id),
  }),
  unblock: (rules, id) => ({ ...rules, blocks: rules.blocks.filter((b) => b !== id) }),
  featured: (rules, value) => ({ ...rules, featured: value }),
};

export async function saveRules(articleId, rules) {
  const empty = !rules.pins.length && !rules.blocks.length && rules.featured === null;
  return empty ? api.deleteRules(articleId) : api.putRules(articleId, rules);
}

export function pinnedIds(state) {
  return new Set(state.available ? state.rules.pins.map((p) => p.article_id) : []);
}

/** Buttons under each item of the current list, or null when editing is not possible. */
export function itemActions(state, change) {
  if (!state.available || state.needsKey || !getKey()) return null;
  return (item, index, featuredBlock) => {
    const pinned = state.rules.pins.some((p) => p.article_id === item.id);
    return [
      // Pins are slots of the related list; featured picks can only be blocked. An
      // editor pins what should lead the block, so the button pins to the top slot.
      featuredBlock
        ? null
        : pinned
        ? h("button", { type: "button", class: "small secondary", onclick: () => change(edit.unpin(state.rules, item.id)) }, "Unpin")
        : h(
            "button",
            { type: "button", class: "small secondary", onclick: () => change(edit.pin(state.rules, item.id, FIRST_POSITION)) },
            "Pin to top",
          ),
      h("button", { type: "button", class: "small danger", onclick: () => change(edit.block(state.rules, item.id)) }, "Block"),
    ].filter(Boolean);
  };
}

/** The rules panel: current pins, blocks and the featured override. */
export function renderRules(container, state, change) {
  if (state.needsKey || !getKey()) {
    container.replaceChildren(
      h("p", { class: "hint" }, "Enter your API key at the top of the page to see and change pins and blocks."),
    );
    return;
  }
  const { rules } = state;
  const pins = rules.pins.length
    ? h(
        "ul",
        {},
        rules.pins.map((pin) =>
          h(
            "li",
            {},
            `${pin.article_id} at position ${pin.position} `,
            h("button", { type: "button", class: "small secondary", onclick: () => change(edit.unpin(rules, pin.article_id)) }, "Unpin"),
          ),
        ),
      )
    : h("p", { class: "hint" }, "No pins.");
  const blocks = rules.blocks.length
    ? h(
        "ul",
        {},
        rules.blocks.map((id) =>
          h("li", {}, `${id} `, h("button", { type: "button", class: "small secondary", onclick: () => change(edit.unblock(rules, id)) }, "Unblock")),
        ),
      )
    : h("p", { class: "hint" }, "No blocks.");
  const select = h(
    "select",
    { id: "rules-featured" },
    h("option", { value: "", selected: rules.featured === null }, "as the article says"),
    h("option", { value: "true", selected: rules.featured === true }, "always featured"),
    h("option", { value: "false", selected: rules.featured === false }, "never featured"),
  );
  select.addEventListener("change", () => {
    change(edit.featured(rules, select.value === "" ? null : select.value === "true"));
  });
  container.replaceChildren();
  append(
    container,
    h("h4", {}, "Pinned"),
    pins,
    h("h4", {}, "Blocked"),
    blocks,
    h("label", { for: "rules-featured" }, "This article as a featured pick: "),
    select,
    state.error ? h("p", { class: "error", role: "alert" }, state.error.message) : null,
  );
}
