/*! Chatorical chat widget v2. Plain ES2017, no dependencies. Served as /widget/v2.js:
 *  <script src="https://HOST/widget/v2.js" data-tenant="SLUG" async></script>
 *  Optional: data-locale="de", data-position="left". */
(function () {
'use strict';

// Embedded twice (tag manager plus a hard-coded tag): the first copy wins.
if (window.ChatoricalWidgetV2) return;

var VERSION = '2.0.0';
var BACKOFF_START_MS = 1000;
var BACKOFF_CAP_MS = 30000;
var TOAST_MS = 6000;
var LOCALE_RE = /^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$/;
var UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The tenant's strings come with the bootstrap; these cover labels it does not carry.
var S = {
  title: 'Chat with us', launcher_label: 'Open chat', close_label: 'Close chat',
  name_label: 'Your name (optional)', start_button: 'Start chat',
  input_placeholder: 'Type a message…', send_button: 'Send',
  connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline',
  agent_joined: '{agent} joined', agent_joined_anonymous: 'An agent joined',
  closed: 'This conversation has ended.', new_conversation: 'Start a new conversation', you: 'You',
  agent: 'Agent', messages: 'Messages', sending: 'Sending…', queued: 'Will be sent when connected',
  failed: 'Not sent.', retry: 'Retry',
  ended: 'Your previous conversation has ended. You can start a new one.',
  network: 'Cannot reach the chat server. Please try again.',
  generic: 'Something went wrong. Please try again.',
  too_many: 'Too many attempts. Please try again in {seconds} s.'
};

// --- config

// document.currentScript is only set while this file first runs: read it now.
function findOwnScript() {
  var cur = document.currentScript;
  if (cur && cur.src) return cur;
  var scripts = document.querySelectorAll('script[data-tenant]');
  for (var i = scripts.length - 1; i >= 0; i--) {
    if (/\/widget\/v2\.js$/.test((scripts[i].src || '').split(/[?#]/)[0])) return scripts[i];
  }
  return null;
}

function readConfig(script) {
  var origin;
  try { origin = new URL(script.src, location.href).origin; } catch (e) { return null; }
  var d = script.dataset || {};
  if (!/^https?:\/\//.test(origin) || !d.tenant) return null;
  var locale = d.locale || navigator.language || '';
  return {
    origin: origin,
    tenant: d.tenant,
    locale: LOCALE_RE.test(locale) ? locale : '',
    position: d.position
  };
}

var script = findOwnScript();
var cfg = script && readConfig(script);
if (!cfg) {
  if (window.console) console.warn('Chatorical: add data-tenant to the widget script tag; widget disabled.');
  return;
}
var boot = null; // the bootstrap answer

// --- storage: the conversation id and nothing else (tokens live for one connect only)

// localStorage throws in some privacy modes and sandboxed iframes; the widget
// then still works, it just does not survive a reload.
var STORAGE_KEY = 'chatorical:v2:' + cfg.tenant;
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

// --- HTTP

// Never throws: a network failure is status 0, so callers can tell
// "server unreachable" from "server said no".
async function api(method, path, body) {
  var res, data = null;
  try {
    res = await fetch(cfg.origin + path, {
      method: method, headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined, mode: 'cors', credentials: 'omit',
      cache: method === 'GET' ? 'default' : 'no-store'
    });
  } catch (e) {
    return { ok: false, status: 0, data: null };
  }
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  return { ok: res.ok, status: res.status, data: data, retryAfter: res.headers.get('Retry-After') };
}

function fill(text, name, value) { return String(text).split('{' + name + '}').join(value); }

function errorText(r) {
  if (r.status === 429) return fill(S.too_many, 'seconds', retryAfterSeconds(r.retryAfter));
  var err = r.status && r.data && r.data.error;
  return r.status ? (err && typeof err.message === 'string' && err.message) || S.generic : S.network;
}

// Retry-After is either seconds or an HTTP date.
function retryAfterSeconds(value) {
  var n = Number(value), when = Date.parse(value || '');
  if (value && isFinite(n)) return Math.max(1, Math.ceil(n));
  return isFinite(when) ? Math.max(1, Math.ceil((when - Date.now()) / 1000)) : 30;
}

function normalizeMessage(m) {
  return {
    direction: m.direction === 'INBOUND' ? 'INBOUND' : 'OUTBOUND',
    text: m.text == null ? '' : String(m.text),
    agent: m.agent ? String(m.agent) : ''
  };
}

function normText(t) { return String(t).replace(/\r\n?/g, '\n').trim(); }

// --- state

var state = {
  conversationId: null,
  ws: null,
  connecting: false, // token request in flight
  synced: false,     // the current socket sent its backlog (the welcome note marks the end)
  everSynced: false, // "Connecting…" vs "Reconnecting…", and whether history is loaded
  attempt: 0,        // reconnect attempts since the last sync
  retryTimer: 0,
  lastSeq: 0,        // seq of the newest message shown: where a reconnect resumes
  closed: false,
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
  '.root{--accent:#2563eb;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1f2328}' +
  '[hidden]{display:none!important}button,input,textarea{font:inherit;color:inherit;margin:0}button{cursor:pointer}' +
  ':disabled{cursor:not-allowed;opacity:.6}:focus{outline:2px solid #1d4ed8;outline-offset:2px}:focus:not(:focus-visible){outline:none}' +
  '.launcher{position:fixed;bottom:20px;right:20px;width:56px;height:56px;border-radius:50%;border:0;padding:0;background:var(--accent);color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}' +
  '.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;background:#dc2626;color:#fff;font-size:12px;line-height:20px}' +
  '.panel{position:fixed;bottom:88px;right:20px;width:360px;max-width:calc(100vw - 40px);height:540px;max-height:calc(100vh - 110px);background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}' +
  '.left .launcher,.left .panel{right:auto;left:20px}' +
  '@media (max-width:480px){.panel,.left .panel{top:0;right:0;bottom:0;left:0;width:auto;height:auto;max-width:none;max-height:none;border-radius:0}}' +
  '.head{display:flex;align-items:center;padding:10px 8px 10px 14px;background:var(--accent);color:#fff}.head :focus{outline-color:#fff}' +
  '.title{flex:1;margin:0;font-size:15px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}' +
  '.x{background:none;border:0;width:32px;height:32px;margin-left:4px;border-radius:6px;font-size:22px;line-height:1}' +
  '.form{padding:12px 14px;border-bottom:1px solid #e5e7eb}' +
  '.form label{display:block;font-size:12px;color:#57606a;margin:8px 0 4px}' +
  'input,textarea{width:100%;padding:8px;border:1px solid #c9ced6;border-radius:6px;background:#fff}' +
  '.row{display:flex;justify-content:flex-end;margin-top:8px}' +
  '.btn{border:0;border-radius:6px;padding:8px 14px;background:var(--accent);color:#fff;font-weight:600}' +
  '.start{flex:1;border:0}.form .error{color:#b42318;font-size:13px;margin:8px 0 0}' +
  '.log{flex:1;overflow-y:auto;padding:10px 12px;-webkit-overflow-scrolling:touch}' +
  '.msg{max-width:82%;margin:6px 0;padding:8px 10px;border-radius:12px;white-space:pre-wrap;overflow-wrap:break-word;word-break:break-word}' +
  '.mine{margin-left:auto;background:var(--accent);color:#fff}.theirs{margin-right:auto;background:#f1f3f5}' +
  '.who{font-size:11px;font-weight:600;color:#57606a}.pending{opacity:.75}.failed{opacity:1;background:#fde8e8;color:#7a1d1d}' +
  '.meta{display:block;font-size:11px}.meta button{background:none;border:0;padding:0 0 0 6px;text-decoration:underline;font-size:11px}' +
  '.note{text-align:center;color:#57606a;font-size:12px;margin:8px 0}.closedbar{padding:10px;text-align:center}' +
  '.toast{margin:0 12px 6px;padding:6px 10px;border-radius:6px;background:#fff4e5;color:#7a4b00;font-size:12px}' +
  '.composer{display:flex;align-items:flex-end;padding:8px;border-top:1px solid #e5e7eb}' +
  '.composer textarea{flex:1;resize:none;min-height:38px;max-height:120px}.composer .btn{margin-left:8px;height:38px}' +
  '.status{padding:0 12px 6px;font-size:11px;color:#57606a}' +
  '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}';

function mount() {
  // A custom element name: host rules written for div/span never match it, and
  // inline !important styles beat host-page resets.
  var host = document.createElement('chatorical-widget');
  host.style.cssText = 'all:initial!important;position:fixed!important;top:0!important;left:0!important;' +
    'width:0!important;height:0!important;z-index:2147483000!important;display:block!important';
  var root = host.attachShadow({ mode: 'open' });
  var u = { root: root };
  var theme = boot.theme || {};
  var position = (cfg.position || theme.position) === 'left' ? 'left' : 'right';

  var icon = svg('svg', { viewBox: '0 0 24 24', width: 26, height: 26, 'aria-hidden': 'true' });
  icon.appendChild(svg('path', { fill: 'currentColor', d: 'M4 5a2 2 0 0 1 2-2h12a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4z' }));
  u.badge = el('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
  u.launcher = el('button', {
    type: 'button', class: 'launcher', 'aria-label': S.launcher_label, 'aria-expanded': 'false',
    'aria-controls': 'chatorical-panel', onclick: function () { if (state.isOpen) close(); else open(); }
  }, [icon, u.badge]);

  u.nameInput = el('input', { type: 'text', id: 'cw-name', maxlength: 100, autocomplete: 'name' });
  u.startBtn = button('btn', S.start_button);
  u.startError = el('p', { class: 'error', role: 'alert', hidden: true });
  var askName = !boot.features || boot.features.ask_name !== false;
  u.startForm = el('form', { class: 'form start', onsubmit: onStartSubmit }, [
    askName ? el('label', { for: 'cw-name', text: S.name_label }) : null, askName ? u.nameInput : null,
    u.startError, el('div', { class: 'row' }, [u.startBtn])
  ]);

  u.log = el('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': S.messages, tabindex: '0' });
  u.closedBar = el('div', { class: 'closedbar', hidden: true }, [button('btn', S.new_conversation, startNewConversation)]);
  u.toast = el('div', { class: 'toast', role: 'status', hidden: true });
  u.input = el('textarea', {
    rows: 1, 'aria-label': S.input_placeholder, placeholder: S.input_placeholder, onkeydown: onInputKey, oninput: autosize
  });
  u.sendBtn = button('btn', '\u27a4', null, S.send_button);
  u.composer = el('form', { class: 'composer', onsubmit: onComposerSubmit }, [u.input, u.sendBtn]);
  u.status = el('div', { class: 'status', role: 'status', hidden: true });

  u.panel = el('div', { class: 'panel', id: 'chatorical-panel', role: 'dialog', 'aria-label': S.title, hidden: true }, [
    el('div', { class: 'head' }, [
      el('h2', { class: 'title', text: S.title }), button('x', '\u00d7', function () { close(); }, S.close_label)
    ]),
    u.startForm, u.log, u.closedBar, u.toast, u.composer, u.status
  ]);

  var rootDiv = el('div', { class: 'root ' + position, onkeydown: onEscape }, [u.launcher, u.panel]);
  // Validated, so a tenant's setting cannot smuggle other CSS in.
  if (/^#[0-9a-f]{3,8}$/i.test(theme.accent_color || '')) rootDiv.style.setProperty('--accent', theme.accent_color);
  root.appendChild(el('style', { text: CSS }));
  // Escape is handled at the root so it also works with focus on the launcher.
  root.appendChild(rootDiv);
  document.body.appendChild(host);
  ui = u;
}

// "start": the name prompt. "chat": message list and composer.
function setView(view) {
  var chat = view === 'chat';
  ui.startForm.hidden = chat;
  ui.log.hidden = ui.composer.hidden = !chat;
  if (!chat) setStatus('');
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
    m.agent && !mine ? el('div', { class: 'who', text: m.agent }) : el('span', { class: 'sr', text: (mine ? S.you : S.agent) + ': ' }),
    el('span', { text: m.text })
  ]);
}

function setUnread(n) {
  state.unread = n;
  ui.badge.textContent = n > 9 ? '9+' : String(n);
  ui.badge.hidden = !n;
  ui.launcher.setAttribute('aria-label', n ? S.launcher_label + ' (' + n + ')' : S.launcher_label);
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
  var target = ui.startForm.hidden ? ui.input : startFocus();
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
  close();
}

// --- starting a conversation

async function onStartSubmit(e) {
  e.preventDefault();
  if (state.starting) return;
  state.starting = ui.startBtn.disabled = true;
  showText(ui.startError, '');
  var name = ui.nameInput.value.trim();
  var r = await api('POST', boot.api.conversations, {
    name: name || undefined, locale: boot.locale || undefined, page_url: String(location.href).slice(0, 2000)
  });
  var d = r.data || {};
  state.starting = false;
  // After a 429 the button stays disabled as long as the server asked.
  var wait = r.status === 429 ? retryAfterSeconds(r.retryAfter) * 1000 : 0;
  setTimeout(function () { ui.startBtn.disabled = false; }, wait);
  if (r.ok && typeof d.conversation_id === 'string' && UUID_RE.test(d.conversation_id)) {
    storage.save(d.conversation_id);
    beginConversation(d.conversation_id);
  } else {
    showText(ui.startError, errorText(r));
  }
}

function beginConversation(id) {
  teardown();
  state.conversationId = id;
  setView('chat');
  connect();
  if (state.isOpen) ui.input.focus();
}

// Drops in-memory conversation state and the socket; storage is untouched.
function teardown() {
  var ws = state.ws;
  clearTimeout(state.retryTimer);
  Object.assign(state, {
    conversationId: null, ws: null, connecting: false, synced: false, everSynced: false, attempt: 0,
    lastSeq: 0, closed: false, pending: [], notes: {}
  });
  if (ws) ws.close();
  while (ui.log.firstChild) ui.log.removeChild(ui.log.firstChild);
  ui.closedBar.hidden = ui.toast.hidden = true;
  setUnread(0);
}

// The server no longer knows the conversation (deleted, or never this tenant's).
function forgetConversation() {
  startNewConversation();
  showText(ui.startError, S.ended);
}

function startNewConversation() {
  teardown();
  storage.clear();
  setView('start');
  showText(ui.startError, '');
  if (state.isOpen) startFocus().focus();
}

function startFocus() { return ui.nameInput.parentNode ? ui.nameInput : ui.startBtn; }

// --- socket

// Every connect fetches a fresh single-use token; it lives only in this call and
// the socket URL, never in storage.
async function connect() {
  clearTimeout(state.retryTimer);
  var id = state.conversationId;
  if (!id || state.closed || state.ws || state.connecting) return;
  if (navigator.onLine === false) return setStatus(S.offline); // "online" resumes
  setStatus(state.everSynced ? S.reconnecting : S.connecting);
  state.connecting = true;
  var r = await api('POST', fill(boot.api.token, 'conversation_id', encodeURIComponent(id)));
  if (id !== state.conversationId) return; // torn down meanwhile (teardown reset the flag)
  state.connecting = false;
  if (state.closed) return;
  if (r.status === 404) return forgetConversation();
  if (r.status === 409) return markClosed();
  if (!r.ok || !r.data || typeof r.data.token !== 'string') {
    return scheduleReconnect(r.status === 429 ? retryAfterSeconds(r.retryAfter) * 1000 : 0);
  }
  var sock;
  try {
    sock = new WebSocket(boot.ws_url + '?token=' + encodeURIComponent(r.data.token) + '&after_seq=' + state.lastSeq);
  } catch (e) {
    return scheduleReconnect(0);
  }
  state.ws = sock;
  state.synced = false;
  // Handlers of a socket that was since replaced or torn down do nothing.
  sock.onmessage = function (ev) {
    if (sock !== state.ws) return;
    var msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (msg && typeof msg === 'object') handleFrame(msg);
  };
  sock.onclose = function () {
    if (sock !== state.ws) return;
    state.ws = null;
    state.synced = false;
    if (state.conversationId && !state.closed) scheduleReconnect(0);
  };
}

// Exponential backoff with "equal jitter": 1 s, 2 s, 4 s … capped at 30 s, each
// randomised into [d/2, d] so many widgets don't reconnect in lockstep. The
// server may ask for longer (Retry-After).
function scheduleReconnect(atLeastMs) {
  clearTimeout(state.retryTimer);
  if (!state.conversationId || state.closed) return;
  if (navigator.onLine === false) return setStatus(S.offline);
  var d = Math.min(BACKOFF_CAP_MS, BACKOFF_START_MS * Math.pow(2, Math.min(state.attempt++, 10)));
  setStatus(S.reconnecting);
  state.retryTimer = setTimeout(connect, Math.max(atLeastMs, d / 2 + Math.random() * d / 2));
}

// The network or the tab came back (mobile browsers kill background sockets):
// reconnect now rather than wait out the backoff.
function reconnectNow() {
  if (!state.conversationId || state.closed || state.ws || state.connecting) return;
  state.attempt = 0;
  connect();
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
    markClosed();
  } else if (msg.type == null && (msg.direction === 'INBOUND' || msg.direction === 'OUTBOUND')) {
    var seq = Number(msg.seq);
    if (!(seq > state.lastSeq)) return; // shown already
    if (seq !== state.lastSeq + 1) return resync();
    state.lastSeq = seq;
    addConfirmed(normalizeMessage(msg));
  }
  // Unknown frame types are ignored so the server can add new ones.
}

// Refusals are transient toasts; the welcome note ends the backlog; other keyed
// notes replace their earlier copy.
function onInfoNote(text, key) {
  if (key === 'rate_limited' || key === 'limiter_unavailable' || key.indexOf('error') === 0) {
    showToast(text);
    // The server refused the oldest message it had not echoed yet.
    var p = state.pending.filter(function (q) { return q.state === 'sent'; })[0];
    if (p) setPendingState(p, 'failed');
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
  state.pending.forEach(function (p) { if (p.state === 'sent') setPendingState(p, 'queued'); });
  flush();
}

function addConfirmed(m) {
  var i = m.direction === 'INBOUND' ? findPending(m, 'sent') : -1;
  if (i >= 0) removePending(i);
  // History loaded on the first connect is not "unread"; what came after is.
  if (state.everSynced && m.direction === 'OUTBOUND') bumpUnread();
  insertItem(messageNode(m));
}

// A keyed note replaces the earlier one with that key; `first` puts a new one on top.
function showNote(text, key, first) {
  if (key && state.notes[key]) { state.notes[key].textContent = text; return; }
  var node = el('div', { class: 'note', text: text });
  if (first) ui.log.insertBefore(node, ui.log.firstChild); else insertItem(node);
  if (key) state.notes[key] = node;
}

function markClosed() {
  state.closed = true;
  clearTimeout(state.retryTimer);
  showNote(S.closed, 'conversation_closed');
  setComposerEnabled(false);
  setStatus('');
  ui.closedBar.hidden = false;
  scrollToBottom();
  var ws = state.ws;
  state.ws = null;
  if (ws) ws.close();
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
  p.label.textContent = s === 'sent' ? S.sending : s === 'queued' ? S.queued : S.failed;
  p.retry.hidden = s !== 'failed';
}

// The visitor's text shows as "sending…" until the server echoes it, so what
// ends up on screen is exactly what the server stored, in its order.
function sendText(text) {
  var p = { text: text, label: el('span') };
  p.retry = button('', S.retry, function () { setPendingState(p, 'queued'); flush(); });
  p.el = el('div', {}, [el('span', { text: text }), el('span', { class: 'meta' }, [p.label, p.retry])]);
  setPendingState(p, 'queued');
  state.pending.push(p);
  ui.log.appendChild(p.el);
  scrollToBottom();
  flush();
}

// Sends queued messages in order, only on a socket that is caught up (before
// that, an echo could not be told from the backlog).
function flush() {
  var ws = state.ws;
  if (!ws || !state.synced || ws.readyState !== 1) return;
  state.pending.forEach(function (p) {
    if (p.state !== 'queued') return;
    ws.send(JSON.stringify({ type: 'message', text: p.text }));
    setPendingState(p, 'sent');
  });
}

function onComposerSubmit(e) {
  e.preventDefault();
  var text = ui.input.value.trim();
  if (!text || state.closed || !state.conversationId) return;
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
    return run();
  }
  if (r.status && r.status < 500 && r.status !== 429) {
    if (window.console) console.warn('Chatorical: widget disabled: ' + errorText(r));
    return;
  }
  var wait = Math.min(BACKOFF_CAP_MS, BACKOFF_START_MS * Math.pow(2, Math.min(attempt, 10)));
  setTimeout(function () { start(attempt + 1); }, wait / 2 + Math.random() * wait / 2);
}

function run() {
  mount();
  var saved = storage.load();
  if (saved) beginConversation(saved); else setView('start');
  window.addEventListener('online', reconnectNow);
  window.addEventListener('offline', function () { if (state.conversationId && !state.closed) setStatus(S.offline); });
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') reconnectNow();
  });
  if (state.openRequested) open();
}

window.ChatoricalWidgetV2 = { open: open, close: close, version: VERSION };

// An async script can run before <body> exists.
if (document.body) start(0);
else document.addEventListener('DOMContentLoaded', function () { start(0); });
})();
