// The v1 widget, served as /widget.js: the default tenant, a stored conversation token,
// history over HTTP after every (re)connect.
import { state, useAdapter } from './core/state.js';
import { el, button, labelled, showText } from './core/dom.js';
import { S, fill } from './core/i18n.js';
import { useServer, api, errorText } from './core/http.js';
import { findOwnScript, scriptOrigin, whenBodyReady } from './core/page.js';
import {
  ui, setView, setStatus, showToast, showNote, bumpUnread, markClosed, open, close, beginConversation,
  forgetConversation
} from './core/view.js';
import { normalizeMessage, normText, addConfirmed, findPending, requeueSent, refuseOldestSent, flush } from './core/messages.js';
import { listen, scheduleReconnect, run } from './core/socket.js';

var VERSION = '1.0.0';
var STORAGE_KEY = 'chatorical:v1';
// How long after a history re-sync live frames repeating it are dropped.
var DEDUPE_WINDOW_MS = 10000;
// Close codes after "open" that mean "token refused" rather than "retry".
var REFUSAL_CODES = [1008, 4001, 4003, 4401, 4403, 4404];

Object.assign(S, {
  send_button: 'Send message', input_label: 'Message', input_placeholder: 'Message…',
  closed: 'This conversation has been closed.', queued: 'Will be sent when reconnected',
  intro: 'Hi! Tell us your name (optional) and start a chat.',
  rename: 'change name', rename_label: 'Your name', save: 'Save', cancel: 'Cancel', renamed: 'Name updated.',
  unread: 'Open chat ({count} unread)'
});

var cfg = null;

function readConfig(script) {
  var origin = scriptOrigin(script);
  if (!origin) return null;
  var d = script.dataset || {};
  return {
    origin: origin,
    wsOrigin: origin.replace(/^http/, 'ws'),
    title: d.title || S.title,
    locale: d.locale || navigator.language || '',
    position: d.position === 'left' ? 'left' : 'right'
  };
}

// --- storage

// localStorage throws in some privacy modes and sandboxed iframes; the widget
// then still works, it just does not survive a reload.
var storage = {
  load: function () {
    try {
      var v = JSON.parse(localStorage.getItem(STORAGE_KEY) || 'null');
      if (v && v.conversation_id != null && typeof v.token === 'string' && v.token) {
        return { conversation_id: v.conversation_id, token: v.token };
      }
    } catch (e) { /* unreadable: treat as absent */ }
    return null;
  },
  save: function (c) {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify({ conversation_id: c.conversation_id, token: c.token }));
    } catch (e) { /* not persisted */ }
  },
  clear: function () {
    try { localStorage.removeItem(STORAGE_KEY); } catch (e) { /* nothing stored */ }
  }
};

// --- HTTP

function convPath(conv, tail) {
  return '/v1/conversations/' + encodeURIComponent(conv.conversation_id) + '/' + tail;
}

function getMessages(conv) {
  return api('GET', convPath(conv, 'messages'), null, conv.token);
}

function historyOf(r) {
  return r.ok && r.data && Array.isArray(r.data.messages) ? r.data.messages.map(normalizeMessage) : null;
}

function sameMessage(a, b) {
  return a.direction === b.direction && a.agent === b.agent && normText(a.text) === normText(b.text);
}

// The v1 fields of the state; `conversation` is {conversation_id, token}.
function freshState() {
  return {
    wsOpened: false,   // the current socket reached "open"
    everOpened: false, // "Connecting…" vs "Reconnecting…"
    syncing: false,    // history re-fetch in flight: live frames are buffered
    buffer: [],
    log: [],           // confirmed (server-stored) messages on screen, in order
    dedupe: null       // see isReplayOfSynced
  };
}

// --- the rename form, v1's own

function extras(u) {
  u.renameLink = button('link', S.rename, showRename);
  u.renameInput = el('input', { type: 'text', id: 'cw-rename', maxlength: 100, autocomplete: 'name' });
  u.renameError = el('p', { class: 'error', role: 'alert', hidden: true });
  u.renameForm = el('form', { class: 'form', hidden: true, onsubmit: onRenameSubmit },
    labelled('cw-rename', S.rename_label, u.renameInput).concat([u.renameError,
      el('div', { class: 'row' }, [button('btn ghost', S.cancel, hideRename), button('btn', S.save)])]));
  return { head: [u.renameLink], forms: [u.renameForm] };
}

var EXTRA_CSS = '.link{background:none;border:0;padding:4px 6px;text-decoration:underline;font-size:12px}' +
  '.form p{margin:0 0 4px}.row button{margin-left:8px}.ghost{background:#eef1f5;color:#1f2328}';

function showRename() {
  ui.renameInput.value = state.name;
  showText(ui.renameError, '');
  ui.renameForm.hidden = false;
  ui.renameInput.focus();
}

function hideRename() { ui.renameForm.hidden = true; }

async function onRenameSubmit(e) {
  e.preventDefault();
  var conv = state.conversation, name = ui.renameInput.value.trim();
  if (!conv || !name) return ui.renameInput.focus();
  var r = await api('POST', convPath(conv, 'rename'), { name: name }, conv.token);
  if (conv !== state.conversation) return;
  if (!r.ok) return showText(ui.renameError, errorText(r));
  state.name = name;
  hideRename();
  showToast(S.renamed);
  if (!ui.input.disabled) ui.input.focus();
}

// --- start and resume

function started(d, name) {
  if (d.conversation_id == null || !d.token) return false;
  var conv = { conversation_id: d.conversation_id, token: String(d.token) };
  state.name = name;
  storage.save(conv);
  beginConversation(conv);
  return true;
}

// v1 compatibility: a stored conversation is resumed by fetching its history
// over HTTP first (which also checks the token), then opening the socket.
async function resume(conv) {
  state.conversation = conv;
  setView('chat');
  setStatus(S.connecting);
  var r = await getMessages(conv);
  if (conv !== state.conversation) return; // replaced meanwhile (other tab, new chat)
  if ([401, 403, 404, 410].indexOf(r.status) >= 0) return forgetConversation();
  (historyOf(r) || []).forEach(function (m) { addToLog(m, false); });
  connect(); // after a network error the socket attempt drives the retries
}

// --- socket

function connect() {
  clearTimeout(state.retryTimer);
  if (!state.conversation || state.closed || state.ws) return;
  if (navigator.onLine === false) return setStatus(S.offline); // "online" resumes
  setStatus(state.everOpened ? S.reconnecting : S.connecting);
  var sock;
  try {
    sock = new WebSocket(cfg.wsOrigin + '/v1/ws?token=' + encodeURIComponent(state.conversation.token));
  } catch (e) {
    return scheduleReconnect();
  }
  listen(sock, { open: onOpen, frame: handleFrame, close: onClose });
  state.wsOpened = false;
}

function onOpen() {
  state.wsOpened = state.everOpened = true;
  state.attempt = 0;
  setStatus('');
  syncHistory();
}

function onClose(ev) {
  var opened = state.wsOpened;
  state.ws = null;
  state.wsOpened = state.syncing = false;
  if (!state.conversation || state.closed) return;
  if (opened && REFUSAL_CODES.indexOf(ev.code) < 0) scheduleReconnect();
  else checkRefusal();
}

// A close before/at the handshake means the token was refused, or that the
// server is unreachable: browsers report both the same way. Ask over HTTP;
// only a server that answers can make us forget the conversation, so an
// outage never wipes it.
async function checkRefusal() {
  var conv = state.conversation;
  if (navigator.onLine === false) return setStatus(S.offline);
  var r = await getMessages(conv);
  if (conv !== state.conversation || state.ws) return;
  if (r.status === 0 || r.status === 429 || r.status >= 500) scheduleReconnect();
  else forgetConversation();
}

function handleFrame(msg) {
  if (state.syncing) return state.buffer.push(msg);
  if (msg.type === 'agent_joined') {
    showNote(msg.agent ? fill(S.agent_joined, 'agent', String(msg.agent)) : S.agent_joined_anonymous);
    bumpUnread();
  } else if (msg.type === 'info_note') {
    onInfoNote(msg.text == null ? '' : String(msg.text), msg.key ? String(msg.key) : '');
  } else if (msg.type === 'conversation_closed') {
    onClosed();
  } else if (msg.type == null && (msg.direction === 'INBOUND' || msg.direction === 'OUTBOUND')) {
    var m = normalizeMessage(msg);
    if (!isReplayOfSynced(m)) addToLog(m, true);
  }
  // Unknown frame types are ignored so the server can add new ones.
}

// A keyed note replaces the earlier one with that key (the server repeats
// "welcome" on every connect). Rate-limit and error notes are transient.
function onInfoNote(text, key) {
  if (key === 'rate_limited' || (key && key.indexOf('error') === 0)) refuseOldestSent(text);
  else showNote(text, key);
}

function onClosed() {
  markClosed();
  if (state.ws) state.ws.close();
}

// After every (re)open: fetch history, append what was missed while the socket
// was down, then replay frames that arrived meanwhile. Messages on screen are a
// prefix of the oldest-first history, so the missed part is history.slice(n).
async function syncHistory() {
  var conv = state.conversation, sock = state.ws;
  state.syncing = true;
  state.buffer = [];
  var history = historyOf(await getMessages(conv));
  if (conv !== state.conversation || sock !== state.ws) return;
  if (history) {
    var missed = history.slice(state.log.length);
    missed.forEach(function (m) { addToLog(m, true); });
    // Their live frames may still arrive (broadcast lagging the HTTP reply).
    state.dedupe = { items: missed, ptr: 0, until: Date.now() + DEDUPE_WINDOW_MS };
  }
  // Sent on the old socket, but neither echoed nor in history: lost. Resend.
  requeueSent();
  state.syncing = false;
  state.buffer.splice(0).forEach(handleFrame);
  flush();
}

// True for a live frame repeating a message the last re-sync already showed.
// Frames come in server order, so matching only moves forward; the first frame
// matching nothing is new and ends the window. The echo of a message still
// "sending…" is never a replay.
function isReplayOfSynced(m) {
  var d = state.dedupe;
  if (!d || (m.direction === 'INBOUND' && findPending(m, 'sent') >= 0)) return false;
  for (var j = d.ptr; j < d.items.length && Date.now() < d.until; j++) {
    if (sameMessage(d.items[j], m)) { d.ptr = j + 1; return true; }
  }
  state.dedupe = null;
  return false;
}

function addToLog(m, live) {
  state.log.push(m);
  addConfirmed(m, live);
}

// --- boot

function main() {
  var script = findOwnScript('script', /\/widget(-v1)?\.js$/);
  cfg = script && readConfig(script);
  if (!cfg) {
    if (window.console) console.warn('Chatorical: widget script URL not found; widget disabled.');
    return;
  }
  useServer(cfg.origin, 'no-store');
  state.name = '';
  useAdapter({
    connect: connect,
    freshState: freshState,
    canSend: function () { return state.wsOpened && !state.syncing; },
    clearStored: storage.clear,
    startTarget: function () { return { path: '/v1/start', locale: cfg.locale }; },
    started: started,
    unreadLabel: function (n) { return fill(S.unread, 'count', n); },
    onView: function (chat) {
      ui.renameLink.hidden = !chat;
      if (!chat) hideRename();
    },
    escape: function () {
      if (ui.renameForm.hidden) return false;
      hideRename();
      ui.input.focus();
      return true;
    }
  });

  window.ChatoricalWidgetV1 = { open: open, close: close, version: VERSION };

  whenBodyReady(function () {
    run({
      title: cfg.title, position: cfg.position, css: EXTRA_CSS, intro: S.intro, askName: true,
      inputLabel: S.input_label, statusAttrs: { 'aria-live': 'polite' }, extras: extras
    }, function () {
      var saved = storage.load();
      if (saved) resume(saved);
      return !!saved;
    });
  });
}

// Embedded twice (tag manager plus a hard-coded tag): the first copy wins.
if (!window.ChatoricalWidgetV1) main();
