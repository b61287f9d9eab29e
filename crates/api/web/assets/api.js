// The native API as the dashboard calls it: same-origin requests with the session cookie, and
// the session's CSRF token on every request that changes something.

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Calls `method path` with an optional JSON `body`; answers the envelope's data or throws an
// ApiError with the server's message.
export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'ERROR', `the server cannot be reached (${e.message}); check your connection and try again`);
  }
  let envelope;
  try {
    envelope = await res.json();
  } catch {
    throw new ApiError(res.status, 'ERROR', `the server answered ${res.status} without a readable body`);
  }
  if (envelope.code !== 'SUCCESS') {
    throw new ApiError(res.status, envelope.code || 'ERROR', envelope.message || `HTTP ${res.status}`);
  }
  return envelope.data;
}

export const seg = (text) => encodeURIComponent(text);
// The last part of a name (`x.bin` of `team/data/x.bin`): what a download of it is called.
export const lastPart = (name) => name.slice(name.lastIndexOf('/') + 1);

// The namespace the page works in: `null` is the caller's own (calls then name none, as the
// seed's calls do); an organisation's name is added to every object call as `?namespace=NS`.
let namespace = null;

export function setNamespace(name) {
  namespace = name || null;
}

export function currentNamespace() {
  return namespace;
}

// `path` with `params` (an object; undefined, null and '' left out) and the working namespace
// added to its query.
export function withNs(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  if (namespace && !q.has('namespace')) q.set('namespace', namespace);
  const text = q.toString();
  if (!text) return path;
  return `${path}${path.includes('?') ? '&' : '?'}${text}`;
}
