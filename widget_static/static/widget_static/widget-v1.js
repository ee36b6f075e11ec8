/*! Chatorical chat widget v1. Plain ES2017, no dependencies. Served as /widget.js. */
(function () {
'use strict';

// Embedded twice (tag manager plus a hard-coded tag): the first copy wins.
if (window.ChatoricalWidgetV1) return;

var VERSION = '1.0.0';
var STORAGE_KEY = 'chatorical:v1';
var BACKOFF_START_MS = 1000;
var BACKOFF_CAP_MS = 30000;
var TOAST_MS = 6000;
// How long after a history re-sync live frames repeating it are dropped.
var DEDUPE_WINDOW_MS = 10000;
// Close codes after "open" that mean "token refused" rather than "retry".
var REFUSAL_CODES = [1008, 4001, 4003, 4401, 4403, 4404];

var T = {
  title: 'Chat with us', open: 'Open chat', close: 'Close chat',
  intro: 'Hi! Tell us your name (optional) and start a chat.',
  nameLabel: 'Your name (optional)', start: 'Start chat',
  message: 'Message', send: 'Send message', messages: 'Messages',
  rename: 'change name', renameLabel: 'Your name', save: 'Save', cancel: 'Cancel',
  renamed: 'Name updated.', you: 'You: ', agent: 'Agent: ',
  connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline',
  sending: 'Sending…', queued: 'Will be sent when reconnected', failed: 'Not sent.', retry: 'Retry',
  someoneJoined: 'An agent joined', joined: ' joined',
  closed: 'This conversation has been closed.', startNew: 'Start a new conversation',
  ended: 'Your previous conversation has ended. You can start a new one.',
  network: 'Cannot reach the chat server. Please try again.',
  generic: 'Something went wrong. Please try again.',
  tooMany: 'Too many attempts. Please try again in %s s.',
  unread: 'Open chat (%s unread)'
};

function fmt(s, v) { return s.replace('%s', v); }

// --- config

// document.currentScript is only set while this file first runs: read it now.
function findOwnScript() {
  var cur = document.currentScript;
  if (cur && cur.src) return cur;
  var scripts = document.getElementsByTagName('script');
  for (var i = scripts.length - 1; i >= 0; i--) {
    if (/\/widget(-v1)?\.js$/.test((scripts[i].src || '').split(/[?#]/)[0])) return scripts[i];
  }
  return null;
}

function readConfig(script) {
  var origin;
  try { origin = new URL(script.src, location.href).origin; } catch (e) { return null; }
  if (!/^https?:\/\//.test(origin)) return null;
  var d = script.dataset || {};
  return {
    origin: origin,
    wsOrigin: origin.replace(/^http/, 'ws'),
    title: d.title || T.title,
    locale: d.locale || navigator.language || '',
    position: d.position === 'left' ? 'left' : 'right'
  };
}

var script = findOwnScript();
var cfg = script && readConfig(script);
if (!cfg) {
  if (window.console) console.warn('Chatorical: widget script URL not found; widget disabled.');
  return;
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

// Never throws: a network failure is status 0, so callers can tell
// "server unreachable" from "server said no".
async function api(method, path, body, token) {
  var headers = {};
  if (body) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  var res, data = null;
  try {
    res = await fetch(cfg.origin + path, {
      method: method, headers: headers, body: body ? JSON.stringify(body) : undefined,
      mode: 'cors', credentials: 'omit', cache: 'no-store'
    });
  } catch (e) {
    return { ok: false, status: 0, data: null };
  }
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  return { ok: res.ok, status: res.status, data: data, retryAfter: res.headers.get('Retry-After') };
}

function getMessages(conv) {
  return api('GET', convPath(conv, 'messages'), null, conv.token);
}

function historyOf(r) {
  return r.ok && r.data && Array.isArray(r.data.messages) ? r.data.messages.map(normalizeMessage) : null;
}

function errorText(r) {
  if (r.status === 429) return fmt(T.tooMany, retryAfterSeconds(r.retryAfter));
  var err = r.status && r.data && r.data.error;
  return r.status ? (err && typeof err.message === 'string' && err.message) || T.generic : T.network;
}

// Retry-After is either seconds or an HTTP date.
function retryAfterSeconds(value) {
  var n = Number(value), when = Date.parse(value || '');
  if (value && isFinite(n)) return Math.max(1, Math.ceil(n));
  return isFinite(when) ? Math.max(1, Math.ceil((when - Date.now()) / 1000)) : 30;
}

function convPath(conv, tail) {
  return '/v1/conversations/' + encodeURIComponent(conv.conversation_id) + '/' + tail;
}

function normalizeMessage(m) {
  return {
    direction: m.direction === 'INBOUND' ? 'INBOUND' : 'OUTBOUND',
    text: m.text == null ? '' : String(m.text),
    agent: m.agent ? String(m.agent) : ''
  };
}

function normText(t) { return String(t).replace(/\r\n?/g, '\n').trim(); }

function sameMessage(a, b) {
  return a.direction === b.direction && a.agent === b.agent && normText(a.text) === normText(b.text);
}

// --- state

var state = {
  conv: null,        // {conversation_id, token}
  name: '',
  ws: null,
  wsOpened: false,   // the current socket reached "open"
  everOpened: false, // "Connecting…" vs "Reconnecting…"
  attempt: 0,        // reconnect attempts since the last successful open
  retryTimer: 0,
  closed: false,     // server sent conversation_closed
  syncing: false,    // history re-fetch in flight: live frames are buffered
  buffer: [],
  log: [],           // confirmed (server-stored) messages on screen, in order
  dedupe: null,      // see isReplayOfSynced
  pending: [],       // local bubbles: {text, state: queued|sent|failed, el, label, retry}
  notes: {},         // note key -> element
  unread: 0,
  isOpen: false,
  openRequested: false,
  starting: false
};

var ui = null; // set by mount()

// --- UI

// Builds DOM without innerHTML: every text goes through textContent.
function el(tag, attrs, children) {
  var node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (k) {
    var v = attrs[k];
    if (v == null || v === false) return;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  });
  (children || []).forEach(function (c) { if (c) node.appendChild(c); });
  return node;
}

function button(cls, text, onclick, label) {
  return el('button', { type: onclick ? 'button' : 'submit', class: cls, text: text, onclick: onclick, 'aria-label': label });
}

function svg(tag, attrs) {
  var node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
  return node;
}

// px, not rem: the host page may change the root font size. No flex "gap":
// iOS 14.0-14.4 lacks it. :focus-visible is unknown to iOS 14, which drops the
// second focus rule and keeps every focus ring: the safe fallback.
var CSS = ':host{all:initial}*{box-sizing:border-box}' +
  '.root{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1f2328}' +
  '[hidden]{display:none!important}button,input,textarea{font:inherit;color:inherit;margin:0}button{cursor:pointer}' +
  ':disabled{cursor:not-allowed;opacity:.6}:focus{outline:2px solid #1d4ed8;outline-offset:2px}:focus:not(:focus-visible){outline:none}' +
  '.launcher{position:fixed;bottom:20px;right:20px;width:56px;height:56px;border-radius:50%;border:0;padding:0;background:#2563eb;color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}' +
  '.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;background:#dc2626;color:#fff;font-size:12px;line-height:20px}' +
  '.panel{position:fixed;bottom:88px;right:20px;width:360px;max-width:calc(100vw - 40px);height:540px;max-height:calc(100vh - 110px);background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}' +
  '.left .launcher,.left .panel{right:auto;left:20px}' +
  '@media (max-width:480px){.panel,.left .panel{top:0;right:0;bottom:0;left:0;width:auto;height:auto;max-width:none;max-height:none;border-radius:0}}' +
  '.head{display:flex;align-items:center;padding:10px 8px 10px 14px;background:#2563eb;color:#fff}.head :focus{outline-color:#fff}' +
  '.title{flex:1;margin:0;font-size:15px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}' +
  '.link{background:none;border:0;padding:4px 6px;text-decoration:underline;font-size:12px}' +
  '.x{background:none;border:0;width:32px;height:32px;margin-left:4px;border-radius:6px;font-size:22px;line-height:1}' +
  '.form{padding:12px 14px;border-bottom:1px solid #e5e7eb}.form p{margin:0 0 4px}' +
  '.form label{display:block;font-size:12px;color:#57606a;margin:8px 0 4px}' +
  'input,textarea{width:100%;padding:8px;border:1px solid #c9ced6;border-radius:6px;background:#fff}' +
  '.row{display:flex;justify-content:flex-end;margin-top:8px}.row button{margin-left:8px}' +
  '.btn{border:0;border-radius:6px;padding:8px 14px;background:#2563eb;color:#fff;font-weight:600}.ghost{background:#eef1f5;color:#1f2328}' +
  '.start{flex:1;border:0}.form .error{color:#b42318;font-size:13px;margin:8px 0 0}' +
  '.log{flex:1;overflow-y:auto;padding:10px 12px;-webkit-overflow-scrolling:touch}' +
  '.msg{max-width:82%;margin:6px 0;padding:8px 10px;border-radius:12px;white-space:pre-wrap;overflow-wrap:break-word;word-break:break-word}' +
  '.mine{margin-left:auto;background:#2563eb;color:#fff}.theirs{margin-right:auto;background:#f1f3f5}' +
  '.who{font-size:11px;font-weight:600;color:#57606a}.pending{opacity:.75}.failed{opacity:1;background:#fde8e8;color:#7a1d1d}' +
  '.meta{display:block;font-size:11px}.meta button{background:none;border:0;padding:0 0 0 6px;text-decoration:underline;font-size:11px}' +
  '.note{text-align:center;color:#57606a;font-size:12px;margin:8px 0}.closedbar{padding:10px;text-align:center}' +
  '.toast{margin:0 12px 6px;padding:6px 10px;border-radius:6px;background:#fff4e5;color:#7a4b00;font-size:12px}' +
  '.composer{display:flex;align-items:flex-end;padding:8px;border-top:1px solid #e5e7eb}' +
  '.composer textarea{flex:1;resize:none;min-height:38px;max-height:120px}.composer .btn{margin-left:8px;height:38px}' +
  '.status{padding:0 12px 6px;font-size:11px;color:#57606a}' +
  '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}';

function labelled(id, text, input) {
  return [el('label', { for: id, text: text }), input];
}

function mount() {
  // A custom element name: host rules written for div/span never match it, and
  // inline !important styles beat host-page resets.
  var host = document.createElement('chatorical-widget');
  host.style.cssText = 'all:initial!important;position:fixed!important;top:0!important;left:0!important;' +
    'width:0!important;height:0!important;z-index:2147483000!important;display:block!important';
  var root = host.attachShadow({ mode: 'open' });
  var u = { root: root };

  var icon = svg('svg', { viewBox: '0 0 24 24', width: 26, height: 26, 'aria-hidden': 'true' });
  icon.appendChild(svg('path', { fill: 'currentColor', d: 'M4 5a2 2 0 0 1 2-2h12a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4z' }));
  u.badge = el('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
  u.launcher = el('button', {
    type: 'button', class: 'launcher', 'aria-label': T.open, 'aria-expanded': 'false',
    'aria-controls': 'chatorical-panel', onclick: function () { if (state.isOpen) close(); else open(); }
  }, [icon, u.badge]);
  u.renameLink = button('link', T.rename, showRename);

  u.renameInput = el('input', { type: 'text', id: 'cw-rename', maxlength: 100, autocomplete: 'name' });
  u.renameError = el('p', { class: 'error', role: 'alert', hidden: true });
  u.renameForm = el('form', { class: 'form', hidden: true, onsubmit: onRenameSubmit },
    labelled('cw-rename', T.renameLabel, u.renameInput).concat([u.renameError,
      el('div', { class: 'row' }, [button('btn ghost', T.cancel, hideRename), button('btn', T.save)])]));

  u.nameInput = el('input', { type: 'text', id: 'cw-name', maxlength: 100, autocomplete: 'name' });
  u.startBtn = button('btn', T.start);
  u.startError = el('p', { class: 'error', role: 'alert', hidden: true });
  u.startForm = el('form', { class: 'form start', onsubmit: onStartSubmit },
    [el('p', { text: T.intro })].concat(labelled('cw-name', T.nameLabel, u.nameInput),
      [u.startError, el('div', { class: 'row' }, [u.startBtn])]));

  u.log = el('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': T.messages });
  u.closedBar = el('div', { class: 'closedbar', hidden: true }, [button('btn', T.startNew, startNewConversation)]);
  u.toast = el('div', { class: 'toast', role: 'status', hidden: true });
  u.input = el('textarea', { rows: 1, 'aria-label': T.message, placeholder: T.message + '…', onkeydown: onInputKey, oninput: autosize });
  u.sendBtn = button('btn', '\u27a4', null, T.send);
  u.composer = el('form', { class: 'composer', onsubmit: onComposerSubmit }, [u.input, u.sendBtn]);
  u.status = el('div', { class: 'status', 'aria-live': 'polite', hidden: true });

  u.panel = el('div', { class: 'panel', id: 'chatorical-panel', role: 'dialog', 'aria-label': cfg.title, hidden: true }, [
    el('div', { class: 'head' }, [
      el('h2', { class: 'title', text: cfg.title }), u.renameLink, button('x', '\u00d7', function () { close(); }, T.close)
    ]),
    u.renameForm, u.startForm, u.log, u.closedBar, u.toast, u.composer, u.status
  ]);

  root.appendChild(el('style', { text: CSS }));
  // Escape is handled at the root so it also works with focus on the launcher.
  root.appendChild(el('div', { class: 'root ' + cfg.position, onkeydown: onEscape }, [u.launcher, u.panel]));
  document.body.appendChild(host);
  ui = u;
}

// "start": the name prompt. "chat": message list and composer.
function setView(view) {
  var chat = view === 'chat';
  ui.startForm.hidden = chat;
  ui.log.hidden = ui.composer.hidden = ui.renameLink.hidden = !chat;
  if (!chat) { hideRename(); setStatus(''); }
  setComposerEnabled(chat && !state.closed);
}

function setComposerEnabled(on) { ui.input.disabled = ui.sendBtn.disabled = !on; }

function setStatus(text) { showText(ui.status, text); }

function showText(node, text) {
  node.textContent = text || '';
  node.hidden = !text;
}

var toastTimer = 0;
function showToast(text) {
  showText(ui.toast, text);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(function () { ui.toast.hidden = true; }, TOAST_MS);
}

function scrollToBottom() { ui.log.scrollTop = ui.log.scrollHeight; }

// Confirmed messages and notes go above the local "sending…" bubbles, which
// stay last until the server echoes them. Auto-scroll only if the visitor
// has not scrolled up to read.
function insertItem(node) {
  var l = ui.log, stick = l.scrollHeight - l.scrollTop - l.clientHeight < 80;
  l.insertBefore(node, state.pending.length ? state.pending[0].el : null);
  if (stick) scrollToBottom();
}

function messageNode(m) {
  var mine = m.direction === 'INBOUND';
  return el('div', { class: 'msg ' + (mine ? 'mine' : 'theirs') }, [
    m.agent && !mine ? el('div', { class: 'who', text: m.agent }) : el('span', { class: 'sr', text: mine ? T.you : T.agent }),
    el('span', { text: m.text })
  ]);
}

function setUnread(n) {
  state.unread = n;
  ui.badge.textContent = n > 9 ? '9+' : String(n);
  ui.badge.hidden = !n;
  ui.launcher.setAttribute('aria-label', n ? fmt(T.unread, n) : T.open);
}

function bumpUnread() { if (!state.isOpen) setUnread(state.unread + 1); }

// --- panel open/close

function open() {
  if (!ui) { state.openRequested = true; return; }
  state.isOpen = true;
  ui.panel.hidden = false;
  ui.launcher.setAttribute('aria-expanded', 'true');
  setUnread(0);
  scrollToBottom();
  var target = ui.startForm.hidden ? ui.input : ui.nameInput;
  if (!target.disabled) target.focus();
}

function close() {
  if (!ui) { state.openRequested = false; return; }
  // Return focus to the launcher only if it was inside the widget.
  var hadFocus = !!ui.root.activeElement;
  state.isOpen = false;
  ui.panel.hidden = true;
  ui.launcher.setAttribute('aria-expanded', 'false');
  if (hadFocus) ui.launcher.focus();
}

function onEscape(e) {
  if ((e.key !== 'Escape' && e.key !== 'Esc') || !state.isOpen) return;
  e.stopPropagation();
  if (!ui.renameForm.hidden) { hideRename(); ui.input.focus(); } else close();
}

// --- start and resume

async function onStartSubmit(e) {
  e.preventDefault();
  if (state.starting) return;
  state.starting = ui.startBtn.disabled = true;
  showText(ui.startError, '');
  var name = ui.nameInput.value.trim();
  var r = await api('POST', '/v1/start', {
    name: name || undefined, locale: cfg.locale || undefined, page_url: String(location.href).slice(0, 2000)
  });
  var d = r.data || {};
  state.starting = false;
  // After a 429 the button stays disabled as long as the server asked.
  var wait = r.status === 429 ? retryAfterSeconds(r.retryAfter) * 1000 : 0;
  setTimeout(function () { ui.startBtn.disabled = false; }, wait);
  if (r.ok && d.conversation_id != null && d.token) {
    beginConversation({ conversation_id: d.conversation_id, token: String(d.token) }, name);
  } else {
    showText(ui.startError, errorText(r));
  }
}

function beginConversation(conv, name) {
  teardown();
  state.conv = conv;
  state.name = name;
  storage.save(conv);
  setView('chat');
  connect();
  if (state.isOpen) ui.input.focus();
}

// v1 compatibility: a stored conversation is resumed by fetching its history
// over HTTP first (which also checks the token), then opening the socket.
async function resume(conv) {
  state.conv = conv;
  setView('chat');
  setStatus(T.connecting);
  var r = await getMessages(conv);
  if (conv !== state.conv) return; // replaced meanwhile (other tab, new chat)
  if ([401, 403, 404, 410].indexOf(r.status) >= 0) return forgetConversation();
  (historyOf(r) || []).forEach(function (m) { addConfirmed(m, false); });
  connect(); // after a network error the socket attempt drives the retries
}

// Drops in-memory conversation state and the socket; storage is untouched.
function teardown() {
  var ws = state.ws;
  clearTimeout(state.retryTimer);
  Object.assign(state, {
    conv: null, ws: null, wsOpened: false, everOpened: false, attempt: 0, closed: false,
    syncing: false, buffer: [], log: [], dedupe: null, pending: [], notes: {}
  });
  if (ws) ws.close();
  while (ui.log.firstChild) ui.log.removeChild(ui.log.firstChild);
  ui.closedBar.hidden = ui.toast.hidden = true;
  setUnread(0);
}

function forgetConversation() {
  startNewConversation();
  showText(ui.startError, T.ended);
}

function startNewConversation() {
  teardown();
  storage.clear();
  setView('start');
  showText(ui.startError, '');
  if (state.isOpen) ui.nameInput.focus();
}

// --- socket

function connect() {
  clearTimeout(state.retryTimer);
  if (!state.conv || state.closed || state.ws) return;
  if (navigator.onLine === false) return setStatus(T.offline); // "online" resumes
  setStatus(state.everOpened ? T.reconnecting : T.connecting);
  var sock;
  try {
    sock = new WebSocket(cfg.wsOrigin + '/v1/ws?token=' + encodeURIComponent(state.conv.token));
  } catch (e) {
    return scheduleReconnect();
  }
  state.ws = sock;
  state.wsOpened = false;
  // Handlers of a socket that was since replaced or torn down do nothing.
  sock.onopen = function () {
    if (sock !== state.ws) return;
    state.wsOpened = state.everOpened = true;
    state.attempt = 0;
    setStatus('');
    syncHistory();
  };
  sock.onmessage = function (ev) {
    if (sock !== state.ws) return;
    var msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (msg && typeof msg === 'object') handleFrame(msg);
  };
  sock.onclose = function (ev) {
    if (sock !== state.ws) return;
    var opened = state.wsOpened;
    state.ws = null;
    state.wsOpened = state.syncing = false;
    if (!state.conv || state.closed) return;
    if (opened && REFUSAL_CODES.indexOf(ev.code) < 0) scheduleReconnect();
    else checkRefusal();
  };
}

// A close before/at the handshake means the token was refused, or that the
// server is unreachable: browsers report both the same way. Ask over HTTP;
// only a server that answers can make us forget the conversation, so an
// outage never wipes it.
async function checkRefusal() {
  var conv = state.conv;
  if (navigator.onLine === false) return setStatus(T.offline);
  var r = await getMessages(conv);
  if (conv !== state.conv || state.ws) return;
  if (r.status === 0 || r.status === 429 || r.status >= 500) scheduleReconnect();
  else forgetConversation();
}

// Exponential backoff with "equal jitter": 1 s, 2 s, 4 s … capped at 30 s, each
// randomised into [d/2, d] so many widgets don't reconnect in lockstep.
function scheduleReconnect() {
  clearTimeout(state.retryTimer);
  if (!state.conv || state.closed) return;
  if (navigator.onLine === false) return setStatus(T.offline);
  var d = Math.min(BACKOFF_CAP_MS, BACKOFF_START_MS * Math.pow(2, Math.min(state.attempt++, 10)));
  setStatus(T.reconnecting);
  state.retryTimer = setTimeout(connect, d / 2 + Math.random() * d / 2);
}

// The network or the tab came back (mobile browsers kill background sockets):
// reconnect now rather than wait out the backoff.
function reconnectNow() {
  if (!state.conv || state.closed || state.ws) return;
  state.attempt = 0;
  connect();
}

function handleFrame(msg) {
  if (state.syncing) return state.buffer.push(msg);
  if (msg.type === 'agent_joined') {
    showNote(msg.agent ? String(msg.agent) + T.joined : T.someoneJoined);
    bumpUnread();
  } else if (msg.type === 'info_note') {
    showNote(msg.text == null ? '' : String(msg.text), msg.key ? String(msg.key) : '');
  } else if (msg.type === 'conversation_closed') {
    markClosed();
  } else if (msg.type == null && (msg.direction === 'INBOUND' || msg.direction === 'OUTBOUND')) {
    var m = normalizeMessage(msg);
    if (!isReplayOfSynced(m)) addConfirmed(m, true);
  }
  // Unknown frame types are ignored so the server can add new ones.
}

// After every (re)open: fetch history, append what was missed while the socket
// was down, then replay frames that arrived meanwhile. Messages on screen are a
// prefix of the oldest-first history, so the missed part is history.slice(n).
async function syncHistory() {
  var conv = state.conv, sock = state.ws;
  state.syncing = true;
  state.buffer = [];
  var history = historyOf(await getMessages(conv));
  if (conv !== state.conv || sock !== state.ws) return;
  if (history) {
    var missed = history.slice(state.log.length);
    missed.forEach(function (m) { addConfirmed(m, true); });
    // Their live frames may still arrive (broadcast lagging the HTTP reply).
    state.dedupe = { items: missed, ptr: 0, until: Date.now() + DEDUPE_WINDOW_MS };
  }
  // Sent on the old socket, but neither echoed nor in history: lost. Resend.
  state.pending.forEach(function (p) { if (p.state === 'sent') setPendingState(p, 'queued'); });
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

function addConfirmed(m, live) {
  state.log.push(m);
  var i = m.direction === 'INBOUND' ? findPending(m, 'sent') : -1;
  if (i >= 0) removePending(i);
  if (live && m.direction === 'OUTBOUND') bumpUnread();
  insertItem(messageNode(m));
}

// A keyed note replaces the earlier one with that key (the server repeats
// "welcome" on every connect). Rate-limit and error notes are transient.
function showNote(text, key) {
  if (key === 'rate_limited' || (key && key.indexOf('error') === 0)) {
    showToast(text);
    // The server refused the oldest message it had not echoed yet.
    var p = state.pending.filter(function (q) { return q.state === 'sent'; })[0];
    if (p) setPendingState(p, 'failed');
    return;
  }
  if (key && state.notes[key]) { state.notes[key].textContent = text; return; }
  var node = el('div', { class: 'note', text: text });
  insertItem(node);
  if (key) state.notes[key] = node;
}

function markClosed() {
  state.closed = true;
  clearTimeout(state.retryTimer);
  showNote(T.closed, 'conversation_closed');
  setComposerEnabled(false);
  setStatus('');
  ui.closedBar.hidden = false;
  if (state.ws) state.ws.close();
}

// --- sending messages

function findPending(m, wanted) {
  var t = normText(m.text);
  for (var i = 0; i < state.pending.length; i++) {
    if (state.pending[i].state === wanted && normText(state.pending[i].text) === t) return i;
  }
  return -1;
}

function removePending(i) {
  var p = state.pending.splice(i, 1)[0];
  if (p.el.parentNode) p.el.parentNode.removeChild(p.el);
}

function setPendingState(p, s) {
  p.state = s;
  p.el.className = 'msg mine pending' + (s === 'failed' ? ' failed' : '');
  p.label.textContent = s === 'sent' ? T.sending : s === 'queued' ? T.queued : T.failed;
  p.retry.hidden = s !== 'failed';
}

// The visitor's text shows as "sending…" until the server echoes it, so what
// ends up on screen is exactly what the server stored.
function sendText(text) {
  var p = { text: text, label: el('span') };
  p.retry = button('', T.retry, function () { setPendingState(p, 'queued'); flush(); });
  p.el = el('div', {}, [el('span', { text: text }), el('span', { class: 'meta' }, [p.label, p.retry])]);
  setPendingState(p, 'queued');
  state.pending.push(p);
  ui.log.appendChild(p.el);
  scrollToBottom();
  flush();
}

// Sends queued messages in order, only on an open socket whose history
// re-sync has finished (before that, echoes can't be told from history).
function flush() {
  var ws = state.ws;
  if (!ws || !state.wsOpened || state.syncing || ws.readyState !== 1) return;
  state.pending.forEach(function (p) {
    if (p.state !== 'queued') return;
    ws.send(JSON.stringify({ type: 'message', text: p.text }));
    setPendingState(p, 'sent');
  });
}

function onComposerSubmit(e) {
  e.preventDefault();
  var text = ui.input.value.trim();
  if (!text || state.closed || !state.conv) return;
  ui.input.value = '';
  autosize();
  sendText(text);
  ui.input.focus();
}

// Enter sends, Shift+Enter is a newline; Enter while an IME is composing
// (Chinese, Japanese…) only confirms the composition.
function onInputKey(e) {
  if (e.key !== 'Enter' || e.shiftKey || e.isComposing || e.keyCode === 229) return;
  onComposerSubmit(e);
}

function autosize() {
  ui.input.style.height = 'auto';
  ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + 'px';
}

// --- rename

function showRename() {
  ui.renameInput.value = state.name;
  showText(ui.renameError, '');
  ui.renameForm.hidden = false;
  ui.renameInput.focus();
}

function hideRename() { ui.renameForm.hidden = true; }

async function onRenameSubmit(e) {
  e.preventDefault();
  var conv = state.conv, name = ui.renameInput.value.trim();
  if (!conv || !name) return ui.renameInput.focus();
  var r = await api('POST', convPath(conv, 'rename'), { name: name }, conv.token);
  if (conv !== state.conv) return;
  if (!r.ok) return showText(ui.renameError, errorText(r));
  state.name = name;
  hideRename();
  showToast(T.renamed);
  if (!ui.input.disabled) ui.input.focus();
}

// --- boot

function boot() {
  mount();
  var saved = storage.load();
  if (saved) resume(saved); else setView('start');
  window.addEventListener('online', reconnectNow);
  window.addEventListener('offline', function () { if (state.conv && !state.closed) setStatus(T.offline); });
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') reconnectNow();
  });
  if (state.openRequested) open();
}

window.ChatoricalWidgetV1 = { open: open, close: close, version: VERSION };

// An async script can run before <body> exists.
if (document.body) boot();
else document.addEventListener('DOMContentLoaded', boot);
})();
