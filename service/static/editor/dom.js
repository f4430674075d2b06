// Building DOM without HTML strings: every piece of article data becomes a text node
// or an attribute value, so a title like "<img src=x onerror=...>" shows as text.

/**
 * h("a", {href: "#x", class: "item"}, "text", child) -> element.
 * Attributes are set with setAttribute; `false`/`null`/`undefined` ones are skipped.
 * Children are nodes or strings (strings become text nodes).
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, ...children);
  return node;
}

export function append(node, ...children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An http(s) URL, or null: "javascript:" and other schemes never become links. */
export function safeUrl(value) {
  if (typeof value !== "string" || !value) return null;
  try {
    const url = new URL(value, document.baseURI);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

export function showError(node, error) {
  node.textContent = error ? String(error.message || error) : "";
  node.hidden = !error;
}

/** 0.0453 -> "4.53%" */
export function percent(rate) {
  return `${(rate * 100).toFixed(2)}%`;
}

/** "3 min", "2 h", "4 days" */
export function formatAge(seconds) {
  if (!Number.isFinite(seconds)) return "unknown";
  const units = [
    [86400, "day"],
    [3600, "h"],
    [60, "min"],
  ];
  for (const [size, name] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      return name === "day" ? `${n} day${n === 1 ? "" : "s"}` : `${n} ${name}`;
    }
  }
  return `${Math.max(0, Math.round(seconds))} s`;
}
