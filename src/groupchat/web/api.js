// Fetch wrapper for the REST API: bearer token, JSON in and out, errors as ApiError(detail).
const TOKEN_KEY = 'gc.token';
let token = localStorage.getItem(TOKEN_KEY);
let unauthorizedHandler = null;

/** An API failure: `status` (0 when the server is unreachable) and a readable message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Whether a failed request may work if sent again: it failed on the way, or the server was busy or failing. */
export function isTransient(error) {
  return error instanceof ApiError && (error.status === 0 || error.status === 429 || error.status >= 500);
}

/** Milliseconds before each new try of a read that failed transiently. */
export const RETRY_AFTER = [500, 1000, 2000, 4000, 8000];

/** The stored session token, or null. */
export function getToken() {
  return token;
}

/** Store (or clear, with null) the session token in localStorage. */
export function setToken(value) {
  token = value;
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

/** Called when an authenticated call answers 401 (token expired or revoked). */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

function describe(status, data) {
  const detail = data && data.detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((e) => {
        const loc = Array.isArray(e.loc) ? e.loc.filter((p) => p !== 'body') : [];
        return loc.length ? `${loc.join('.')}: ${e.msg}` : e.msg;
      })
      .join('; ');
  }
  if (status === 413) return 'That file is too large.';
  if (status === 415) return 'That file type is not supported.';
  return `The request failed (${status}).`;
}

/**
 * Send a request; resolves to the parsed JSON body (null for 204). A 401 ends the session unless
 * `keepSession` (a 401 that only means "wrong password", e.g. from a password change).
 */
export async function request(method, path, body, { keepSession = false } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  let text = '';
  try {
    res = await fetch(path, { method, headers, body: payload });
    if (res.status !== 204) text = await res.text();
  } catch {
    throw new ApiError(0, 'Cannot reach the server. Check your connection and try again.');
  }
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    if (res.status === 401 && headers.Authorization && !keepSession && unauthorizedHandler) unauthorizedHandler();
    throw new ApiError(res.status, describe(res.status, data));
  }
  return data;
}

/** Shorthands: api.get(path), api.post(path, body, options), api.put(path), api.patch(path, body), api.del(path). */
export const api = {
  get: (path) => request('GET', path),
  post: (path, body, options) => request('POST', path, body, options),
  put: (path, body) => request('PUT', path, body),
  patch: (path, body) => request('PATCH', path, body),
  del: (path) => request('DELETE', path),
};

/** POST a file as multipart field `file`. */
export function uploadFile(path, file) {
  const form = new FormData();
  form.append('file', file);
  return request('POST', path, form);
}

/** Path segment escaping for ids and tokens. */
export const enc = encodeURIComponent;
