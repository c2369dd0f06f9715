// The API client: the key lives in sessionStorage and goes out as the bearer token.
const KEY = "cdp.apiKey";

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function forgetApiKey() {
  sessionStorage.removeItem(KEY);
}

// GET or POST `path` (relative to the API's root) and return the parsed JSON body. A 401 forgets
// the key and asks again; a 403 (a key whose role may not do this) is an ApiError like any other.
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${apiKey() || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    forgetApiKey();
    window.dispatchEvent(new Event("cdp:unauthorized"));
    throw new Unauthorized("the API refused this key");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, data.code || "http_error", data.message || response.statusText);
  }
  return data;
}
