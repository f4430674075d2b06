// Calls to the JSON API. Reads send no key; actions that change something send the
// editor's key as "Authorization: Bearer", never in a URL. The key lives in
// sessionStorage: it is typed once per tab and forgotten when the tab closes.

const KEY_STORAGE = "recommender.editor.apiKey";
const base = document.body.dataset.apiBase || "";

/** An error answer from the API; `problem` is its problem+json body when there is one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `the API answered ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export function getKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

export function setKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

async function request(path, { method = "GET", body, auth = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && getKey()) headers.Authorization = `Bearer ${getKey()}`;
  const response = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    // Revalidate every read (cheap: the server answers 304 to a current ETag), so the
    // page never shows a list from before the editor's own change.
    cache: "no-cache",
    credentials: "same-origin",
  });
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

const article = (id) => `/v1/articles/${encodeURIComponent(id)}`;
const experiment = (id) => `/v1/rules/experiments/${encodeURIComponent(id)}`;

export const api = {
  status: () => request("/v1/status"),
  search: (q, limit = 10) => request(`/v1/articles?${new URLSearchParams({ q, limit })}`),
  article: (id) => request(article(id)),
  // The editor shows why each item is listed, so it asks for the shared terms and the
  // field split that the API leaves out unless asked (explain).
  recommendations: (id, params = {}) => {
    const query = new URLSearchParams({ ...params, explain: "true" }).toString();
    return request(`${article(id)}/recommendations?${query}`);
  },
  draft: (draft) =>
    request("/v1/recommendations", { method: "POST", body: { ...draft, explain: true } }),
  getRules: (id) => request(`${article(id)}/rules`, { auth: true }),
  putRules: (id, rules) => request(`${article(id)}/rules`, { method: "PUT", body: rules, auth: true }),
  deleteRules: (id) => request(`${article(id)}/rules`, { method: "DELETE", auth: true }),
  // A/B tests and the served knobs: every call needs the key, reads included.
  experiments: () => request("/v1/rules/experiments", { auth: true }),
  startExperiment: (body) => request("/v1/rules/experiments", { method: "POST", body, auth: true }),
  stopExperiment: (id, promote) =>
    request(`${experiment(id)}/stop`, { method: "POST", body: promote ? { promote } : {}, auth: true }),
  servedKnobs: () => request("/v1/rules/knobs", { auth: true }),
  resetKnobs: () => request("/v1/rules/knobs", { method: "DELETE", auth: true }),
};
