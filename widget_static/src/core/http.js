import { S, fill } from './i18n.js';

var server = { origin: '', getCache: 'no-store' };

// `getCache` is the fetch cache mode of GET requests; every other method is never cached.
export function useServer(origin, getCache) {
  server.origin = origin;
  server.getCache = getCache;
}

// Never throws: a network failure is status 0, so callers can tell
// "server unreachable" from "server said no".
export async function api(method, path, body, token) {
  var headers = {};
  if (body) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  var res, data = null;
  try {
    res = await fetch(server.origin + path, {
      method: method, headers: headers, body: body ? JSON.stringify(body) : undefined,
      mode: 'cors', credentials: 'omit', cache: method === 'GET' ? server.getCache : 'no-store'
    });
  } catch (e) {
    return { ok: false, status: 0, data: null };
  }
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  return { ok: res.ok, status: res.status, data: data, retryAfter: res.headers.get('Retry-After') };
}

export function errorText(r) {
  if (r.status === 429) return fill(S.too_many, 'seconds', retryAfterSeconds(r.retryAfter));
  var err = r.status && r.data && r.data.error;
  return r.status ? (err && typeof err.message === 'string' && err.message) || S.generic : S.network;
}

// Retry-After is either seconds or an HTTP date.
export function retryAfterSeconds(value) {
  var n = Number(value), when = Date.parse(value || '');
  if (value && isFinite(n)) return Math.max(1, Math.ceil(n));
  return isFinite(when) ? Math.max(1, Math.ceil((when - Date.now()) / 1000)) : 30;
}
