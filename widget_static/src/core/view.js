import { state, adapter } from './state.js';
import { el, button, svg, labelled, showText } from './dom.js';
import { S } from './i18n.js';
import { api, errorText, retryAfterSeconds } from './http.js';
import { onComposerSubmit, onInputKey, autosize } from './messages.js';

var TOAST_MS = 6000;

export var ui = null; // set by mount()

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

// The launcher, the panel with its start form, message list, composer and status.
// options: title, position ('left'|'right'), accent (a validated colour, optional), css (the
// version's extra rules), intro (text above the start form, optional), askName, inputLabel,
// logAttrs, statusAttrs, and extras(u): the version's own elements, {head: [], forms: []}.
export function mount(options) {
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
    type: 'button', class: 'launcher', 'aria-label': S.launcher_label, 'aria-expanded': 'false',
    'aria-controls': 'chatorical-panel', onclick: function () { if (state.isOpen) close(); else open(); }
  }, [icon, u.badge]);
  var parts = options.extras ? options.extras(u) : { head: [], forms: [] };

  u.nameInput = el('input', { type: 'text', id: 'cw-name', maxlength: 100, autocomplete: 'name' });
  u.startBtn = button('btn', S.start_button);
  u.startError = el('p', { class: 'error', role: 'alert', hidden: true });
  u.startForm = el('form', { class: 'form start', onsubmit: onStartSubmit },
    (options.intro ? [el('p', { text: options.intro })] : []).concat(
      options.askName ? labelled('cw-name', S.name_label, u.nameInput) : [],
      [u.startError, el('div', { class: 'row' }, [u.startBtn])]));

  u.log = el('div', Object.assign({ class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': S.messages }, options.logAttrs));
  u.closedBar = el('div', { class: 'closedbar', hidden: true }, [button('btn', S.new_conversation, startNewConversation)]);
  u.toast = el('div', { class: 'toast', role: 'status', hidden: true });
  u.input = el('textarea', {
    rows: 1, 'aria-label': options.inputLabel, placeholder: S.input_placeholder, onkeydown: onInputKey, oninput: autosize
  });
  u.sendBtn = button('btn', '\u27a4', null, S.send_button);
  u.composer = el('form', { class: 'composer', onsubmit: onComposerSubmit }, [u.input, u.sendBtn]);
  u.status = el('div', Object.assign({ class: 'status' }, options.statusAttrs, { hidden: true }));

  var head = el('div', { class: 'head' }, [el('h2', { class: 'title', text: options.title })].concat(
    parts.head, [button('x', '\u00d7', function () { close(); }, S.close_label)]));
  u.panel = el('div', { class: 'panel', id: 'chatorical-panel', role: 'dialog', 'aria-label': options.title, hidden: true },
    [head].concat(parts.forms, [u.startForm, u.log, u.closedBar, u.toast, u.composer, u.status]));

  // Escape is handled at the root so it also works with focus on the launcher.
  var rootDiv = el('div', { class: 'root ' + options.position, onkeydown: onEscape }, [u.launcher, u.panel]);
  if (options.accent) rootDiv.style.setProperty('--accent', options.accent);
  root.appendChild(el('style', { text: CSS + (options.css || '') }));
  root.appendChild(rootDiv);
  document.body.appendChild(host);
  ui = u;
}

// "start": the name prompt. "chat": message list and composer.
export function setView(view) {
  var chat = view === 'chat';
  ui.startForm.hidden = chat;
  ui.log.hidden = ui.composer.hidden = !chat;
  if (adapter.onView) adapter.onView(chat);
  if (!chat) setStatus('');
  setComposerEnabled(chat && !state.closed);
}

function setComposerEnabled(on) { ui.input.disabled = ui.sendBtn.disabled = !on; }

export function setStatus(text) { showText(ui.status, text); }

var toastTimer = 0;
export function showToast(text) {
  showText(ui.toast, text);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(function () { ui.toast.hidden = true; }, TOAST_MS);
}

export function scrollToBottom() { ui.log.scrollTop = ui.log.scrollHeight; }

// Confirmed messages and notes go above the local "sending…" bubbles, which
// stay last until the server echoes them. Auto-scroll only if the visitor
// has not scrolled up to read.
export function insertItem(node) {
  var l = ui.log, stick = l.scrollHeight - l.scrollTop - l.clientHeight < 80;
  l.insertBefore(node, state.pending.length ? state.pending[0].el : null);
  if (stick) scrollToBottom();
}

export function messageNode(m) {
  var mine = m.direction === 'INBOUND';
  return el('div', { class: 'msg ' + (mine ? 'mine' : 'theirs') }, [
    m.agent && !mine ? el('div', { class: 'who', text: m.agent }) : el('span', { class: 'sr', text: (mine ? S.you : S.agent) + ': ' }),
    el('span', { text: m.text })
  ]);
}

// A keyed note replaces the earlier one with that key; `first` puts a new one on top.
export function showNote(text, key, first) {
  if (key && state.notes[key]) { state.notes[key].textContent = text; return; }
  var node = el('div', { class: 'note', text: text });
  if (first) ui.log.insertBefore(node, ui.log.firstChild); else insertItem(node);
  if (key) state.notes[key] = node;
}

function setUnread(n) {
  state.unread = n;
  ui.badge.textContent = n > 9 ? '9+' : String(n);
  ui.badge.hidden = !n;
  ui.launcher.setAttribute('aria-label', n ? adapter.unreadLabel(n) : S.launcher_label);
}

export function bumpUnread() { if (!state.isOpen) setUnread(state.unread + 1); }

// --- panel open/close

export function open() {
  if (!ui) { state.openRequested = true; return; }
  state.isOpen = true;
  ui.panel.hidden = false;
  ui.launcher.setAttribute('aria-expanded', 'true');
  setUnread(0);
  scrollToBottom();
  var target = ui.startForm.hidden ? ui.input : startFocus();
  if (!target.disabled) target.focus();
}

export function close() {
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
  if (!(adapter.escape && adapter.escape())) close();
}

// The name field, or the start button when the tenant does not ask for a name.
function startFocus() { return ui.nameInput.parentNode ? ui.nameInput : ui.startBtn; }

// --- conversation lifecycle

export function beginConversation(conversation) {
  teardown();
  state.conversation = conversation;
  setView('chat');
  adapter.connect();
  if (state.isOpen) ui.input.focus();
}

// Drops in-memory conversation state and the socket; storage is untouched.
function teardown() {
  var ws = state.ws;
  clearTimeout(state.retryTimer);
  Object.assign(state, {
    conversation: null, ws: null, connecting: false, attempt: 0, closed: false, pending: [], notes: {}
  }, adapter.freshState());
  if (ws) ws.close();
  while (ui.log.firstChild) ui.log.removeChild(ui.log.firstChild);
  ui.closedBar.hidden = ui.toast.hidden = true;
  setUnread(0);
}

// The server no longer knows the conversation: the visitor may start a new one.
export function forgetConversation() {
  startNewConversation();
  showText(ui.startError, S.ended);
}

function startNewConversation() {
  teardown();
  adapter.clearStored();
  setView('start');
  showText(ui.startError, '');
  if (state.isOpen) startFocus().focus();
}

// The visible part of conversation_closed; the version then lets go of its socket.
export function markClosed() {
  state.closed = true;
  clearTimeout(state.retryTimer);
  showNote(S.closed, 'conversation_closed');
  setComposerEnabled(false);
  setStatus('');
  ui.closedBar.hidden = false;
}

// The start form creates the conversation; the version checks the answer and begins it.
async function onStartSubmit(e) {
  e.preventDefault();
  if (state.starting) return;
  state.starting = ui.startBtn.disabled = true;
  showText(ui.startError, '');
  var name = ui.nameInput.value.trim();
  var target = adapter.startTarget();
  var r = await api('POST', target.path, {
    name: name || undefined, locale: target.locale || undefined, page_url: String(location.href).slice(0, 2000)
  });
  state.starting = false;
  // After a 429 the button stays disabled as long as the server asked.
  var wait = r.status === 429 ? retryAfterSeconds(r.retryAfter) * 1000 : 0;
  setTimeout(function () { ui.startBtn.disabled = false; }, wait);
  if (!(r.ok && adapter.started(r.data || {}, name))) showText(ui.startError, errorText(r));
}
