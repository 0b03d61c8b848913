// fetch wrapper: JSON in and out; an error answer ({"error", "details"}) becomes an ApiError
// whose message is the server's own.

export class ApiError extends Error {
  constructor(status, message, details) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

async function request(method, path, body, opts = {}) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'The server cannot be reached (' + e.message + ')');
  }
  if (res.status === 401 && !opts.noRedirect) {
    // Authentication is on and the session is gone: log in again, then come back.
    location.assign('/login');
  }
  if (opts.raw) {
    if (!res.ok) throw await toError(res);
    return res;
  }
  if (res.status === 204) return null;
  if (!res.ok) throw await toError(res);
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function toError(res) {
  let msg = `${res.status} ${res.statusText}`;
  let details;
  try {
    const text = await res.text();
    try {
      const j = JSON.parse(text);
      if (j && j.error) {
        msg = j.error;
        details = j.details;
      } else if (text) msg = text;
    } catch {
      if (text) msg = text.slice(0, 300);
    }
  } catch { /* body unreadable */ }
  return new ApiError(res.status, msg, details);
}

export const api = {
  get: (p) => request('GET', p),
  post: (p, b = {}) => request('POST', p, b),
  put: (p, b) => request('PUT', p, b),
  patch: (p, b) => request('PATCH', p, b),
  del: (p) => request('DELETE', p),
  raw: (p) => request('GET', p, undefined, { raw: true }),
};

export const enc = encodeURIComponent;

/** Turns an error's details (e.g. [{path, message}]) into readable lines. */
export function detailLines(err) {
  const d = err && err.details;
  if (!d) return [];
  if (Array.isArray(d)) {
    return d.map((x) => (typeof x === 'string' ? x : x.path ? `${x.path}: ${x.message}` : x.message || JSON.stringify(x)));
  }
  if (typeof d === 'object') return Object.entries(d).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [String(d)];
}
