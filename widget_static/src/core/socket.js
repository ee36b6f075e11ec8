import { state, adapter } from './state.js';
import { S } from './i18n.js';
import { mount, setView, setStatus, open } from './view.js';

var BACKOFF_START_MS = 1000;
var BACKOFF_CAP_MS = 30000;

// Makes `sock` the widget's socket. Handlers of a socket that was since replaced or torn
// down do nothing; frames that are not JSON objects are dropped.
// on: frame(msg), close(event), open() (optional).
export function listen(sock, on) {
  state.ws = sock;
  if (on.open) sock.onopen = function () { if (sock === state.ws) on.open(); };
  sock.onmessage = function (ev) {
    if (sock !== state.ws) return;
    var msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (msg && typeof msg === 'object') on.frame(msg);
  };
  sock.onclose = function (ev) { if (sock === state.ws) on.close(ev); };
}

// Exponential backoff with "equal jitter": 1 s, 2 s, 4 s … capped at 30 s, each
// randomised into [d/2, d] so many widgets don't reconnect in lockstep.
export function backoffDelay(attempt) {
  var d = Math.min(BACKOFF_CAP_MS, BACKOFF_START_MS * Math.pow(2, Math.min(attempt, 10)));
  return d / 2 + Math.random() * d / 2;
}

// The server may ask for longer than the backoff (Retry-After): `atLeastMs`.
export function scheduleReconnect(atLeastMs) {
  clearTimeout(state.retryTimer);
  if (!state.conversation || state.closed) return;
  if (navigator.onLine === false) return setStatus(S.offline);
  var wait = backoffDelay(state.attempt++);
  setStatus(S.reconnecting);
  state.retryTimer = setTimeout(adapter.connect, Math.max(atLeastMs || 0, wait));
}

// The network or the tab came back (mobile browsers kill background sockets):
// reconnect now rather than wait out the backoff.
function reconnectNow() {
  if (!state.conversation || state.closed || state.ws || state.connecting) return;
  state.attempt = 0;
  adapter.connect();
}

// Shows the widget: the stored conversation resumed (`resumeStored` returns whether there
// was one) or the start form, and reconnects when the page comes back.
export function run(mountOptions, resumeStored) {
  mount(mountOptions);
  if (!resumeStored()) setView('start');
  window.addEventListener('online', reconnectNow);
  window.addEventListener('offline', function () { if (state.conversation && !state.closed) setStatus(S.offline); });
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') reconnectNow();
  });
  if (state.openRequested) open();
}
