// The v2 widget, served as /widget/v2.js:
//   <script src="https://HOST/widget/v2.js" data-tenant="SLUG" async></script>
//   Optional: data-locale="de", data-position="left".
// The tenant's bootstrap first; a fresh token before every socket; resume by seq.
import { state, useAdapter } from './core/state.js';
import { S, fill } from './core/i18n.js';
import { useServer, api, errorText, retryAfterSeconds } from './core/http.js';
import { findOwnScript, scriptOrigin, whenBodyReady } from './core/page.js';
import {
  setStatus, showNote, scrollToBottom, markClosed, open, close, beginConversation, forgetConversation
} from './core/view.js';
import { normalizeMessage, addConfirmed, requeueSent, refuseOldestSent, flush } from './core/messages.js';
import { listen, backoffDelay, scheduleReconnect, run } from './core/socket.js';

var VERSION = '2.0.0';
var LOCALE_RE = /^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$/;
var UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The tenant's strings come with the bootstrap; these cover labels it does not carry.
Object.assign(S, {
  input_placeholder: 'Type a message…', send_button: 'Send',
  closed: 'This conversation has ended.', queued: 'Will be sent when connected'
});

var cfg = null;
var boot = null; // the bootstrap answer
var STORAGE_KEY = '';

function readConfig(script) {
  var origin = scriptOrigin(script);
  var d = script.dataset || {};
  if (!origin || !d.tenant) return null;
  var locale = d.locale || navigator.language || '';
  return {
    origin: origin,
    tenant: d.tenant,
    locale: LOCALE_RE.test(locale) ? locale : '',
    position: d.position
  };
}

// --- storage: the conversation id and nothing else (tokens live for one connect only)

// localStorage throws in some privacy modes and sandboxed iframes; the widget
// then still works, it just does not survive a reload.
var storage = {
  load: function () {
    try {
      var id = localStorage.getItem(STORAGE_KEY);
      return id && UUID_RE.test(id) ? id : null;
    } catch (e) { return null; }
  },
  save: function (id) {
    try { localStorage.setItem(STORAGE_KEY, id); } catch (e) { /* not persisted */ }
  },
  clear: function () {
    try { localStorage.removeItem(STORAGE_KEY); } catch (e) { /* nothing stored */ }
  }
};

// The v2 fields of the state; `conversation` is the conversation id.
function freshState() {
  return {
    synced: false,     // the current socket sent its backlog (the welcome note marks the end)
    everSynced: false, // "Connecting…" vs "Reconnecting…", and whether history is loaded
    lastSeq: 0         // seq of the newest message shown: where a reconnect resumes
  };
}

function started(d) {
  if (typeof d.conversation_id !== 'string' || !UUID_RE.test(d.conversation_id)) return false;
  storage.save(d.conversation_id);
  beginConversation(d.conversation_id);
  return true;
}

// --- socket

// Every connect fetches a fresh single-use token; it lives only in this call and
// the socket URL, never in storage.
async function connect() {
  clearTimeout(state.retryTimer);
  var id = state.conversation;
  if (!id || state.closed || state.ws || state.connecting) return;
  if (navigator.onLine === false) return setStatus(S.offline); // "online" resumes
  setStatus(state.everSynced ? S.reconnecting : S.connecting);
  state.connecting = true;
  var r = await api('POST', fill(boot.api.token, 'conversation_id', encodeURIComponent(id)));
  if (id !== state.conversation) return; // torn down meanwhile (teardown reset the flag)
  state.connecting = false;
  if (state.closed) return;
  if (r.status === 404) return forgetConversation();
  if (r.status === 409) return onClosed();
  if (!r.ok || !r.data || typeof r.data.token !== 'string') {
    return scheduleReconnect(r.status === 429 ? retryAfterSeconds(r.retryAfter) * 1000 : 0);
  }
  var sock;
  try {
    sock = new WebSocket(boot.ws_url + '?token=' + encodeURIComponent(r.data.token) + '&after_seq=' + state.lastSeq);
  } catch (e) {
    return scheduleReconnect(0);
  }
  listen(sock, { frame: handleFrame, close: onClose });
  state.synced = false;
}

function onClose() {
  state.ws = null;
  state.synced = false;
  if (state.conversation && !state.closed) scheduleReconnect(0);
}

// A message the server skipped (its seq is not the next one): resume from the
// last one shown, on a new socket; the server sends what is missing.
function resync() {
  var ws = state.ws;
  state.ws = null;
  state.synced = false;
  ws.close();
  scheduleReconnect(0);
}

function handleFrame(msg) {
  if (msg.type === 'agent_joined') {
    // The server repeats it on every connect of a claimed conversation: one note, replaced.
    showNote(msg.agent ? fill(S.agent_joined, 'agent', String(msg.agent)) : S.agent_joined_anonymous, 'agent_joined');
  } else if (msg.type === 'info_note') {
    onInfoNote(msg.text == null ? '' : String(msg.text), msg.key ? String(msg.key) : '');
  } else if (msg.type === 'conversation_closed') {
    onClosed();
  } else if (msg.type == null && (msg.direction === 'INBOUND' || msg.direction === 'OUTBOUND')) {
    var seq = Number(msg.seq);
    if (!(seq > state.lastSeq)) return; // shown already
    if (seq !== state.lastSeq + 1) return resync();
    state.lastSeq = seq;
    // History loaded on the first connect is not "unread"; what came after is.
    addConfirmed(normalizeMessage(msg), state.everSynced);
  }
  // Unknown frame types are ignored so the server can add new ones.
}

// Refusals are transient toasts; the welcome note ends the backlog; other keyed
// notes replace their earlier copy.
function onInfoNote(text, key) {
  if (key === 'rate_limited' || key === 'limiter_unavailable' || key.indexOf('error') === 0) {
    refuseOldestSent(text);
  } else if (key === 'welcome') {
    showNote(text, key, true);
    onSynced();
  } else {
    showNote(text, key);
  }
}

// The welcome note follows the backlog: the socket is caught up.
function onSynced() {
  state.synced = state.everSynced = true;
  state.attempt = 0;
  setStatus('');
  // Sent on an earlier socket but absent from the backlog: never stored. Send again.
  requeueSent();
  flush();
}

function onClosed() {
  markClosed();
  scrollToBottom();
  var ws = state.ws;
  state.ws = null;
  if (ws) ws.close();
}

// --- boot

// The tenant's configuration first: labels, theme, where to connect. Retried
// with backoff while the server is unreachable; a refusal (unknown tenant, site
// not allowed) disables the widget.
async function start(attempt) {
  var query = cfg.locale ? '?locale=' + encodeURIComponent(cfg.locale) : '';
  var r = await api('GET', '/v2/tenants/' + encodeURIComponent(cfg.tenant) + '/bootstrap' + query);
  var d = r.data;
  if (r.ok && d && d.api && typeof d.ws_url === 'string') {
    boot = d;
    Object.keys(d.strings || {}).forEach(function (k) { if (typeof d.strings[k] === 'string') S[k] = d.strings[k]; });
    return show();
  }
  if (r.status && r.status < 500 && r.status !== 429) {
    if (window.console) console.warn('Chatorical: widget disabled: ' + errorText(r));
    return;
  }
  setTimeout(function () { start(attempt + 1); }, backoffDelay(attempt));
}

function show() {
  var theme = boot.theme || {};
  run({
    title: S.title,
    position: (cfg.position || theme.position) === 'left' ? 'left' : 'right',
    // Validated, so a tenant's setting cannot smuggle other CSS in.
    accent: /^#[0-9a-f]{3,8}$/i.test(theme.accent_color || '') ? theme.accent_color : '',
    askName: !boot.features || boot.features.ask_name !== false,
    inputLabel: S.input_placeholder,
    logAttrs: { tabindex: '0' },
    statusAttrs: { role: 'status' }
  }, function () {
    var saved = storage.load();
    if (saved) beginConversation(saved);
    return !!saved;
  });
}

function main() {
  var script = findOwnScript('script[data-tenant]', /\/widget\/v2\.js$/);
  cfg = script && readConfig(script);
  if (!cfg) {
    if (window.console) console.warn('Chatorical: add data-tenant to the widget script tag; widget disabled.');
    return;
  }
  STORAGE_KEY = 'chatorical:v2:' + cfg.tenant;
  useServer(cfg.origin, 'default');
  useAdapter({
    connect: connect,
    freshState: freshState,
    canSend: function () { return state.synced; },
    clearStored: storage.clear,
    startTarget: function () { return { path: boot.api.conversations, locale: boot.locale }; },
    started: started,
    unreadLabel: function (n) { return S.launcher_label + ' (' + n + ')'; }
  });

  window.ChatoricalWidgetV2 = { open: open, close: close, version: VERSION };
  whenBodyReady(function () { start(0); });
}

// Embedded twice (tag manager plus a hard-coded tag): the first copy wins.
if (!window.ChatoricalWidgetV2) main();
