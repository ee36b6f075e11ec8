import { state, adapter } from './state.js';
import { el, button } from './dom.js';
import { S } from './i18n.js';
import { ui, insertItem, scrollToBottom, bumpUnread, showToast, messageNode } from './view.js';

export function normalizeMessage(m) {
  return {
    direction: m.direction === 'INBOUND' ? 'INBOUND' : 'OUTBOUND',
    text: m.text == null ? '' : String(m.text),
    agent: m.agent ? String(m.agent) : ''
  };
}

export function normText(t) { return String(t).replace(/\r\n?/g, '\n').trim(); }

// A message the server stored: it replaces the visitor's own "sending…" bubble, if any.
export function addConfirmed(m, countsAsUnread) {
  var i = m.direction === 'INBOUND' ? findPending(m, 'sent') : -1;
  if (i >= 0) removePending(i);
  if (countsAsUnread && m.direction === 'OUTBOUND') bumpUnread();
  insertItem(messageNode(m));
}

export function findPending(m, wanted) {
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

export function setPendingState(p, s) {
  p.state = s;
  p.el.className = 'msg mine pending' + (s === 'failed' ? ' failed' : '');
  p.label.textContent = s === 'sent' ? S.sending : s === 'queued' ? S.queued : S.failed;
  p.retry.hidden = s !== 'failed';
}

// Sent on a socket that is gone, but not stored: queued again for the next one.
export function requeueSent() {
  state.pending.forEach(function (p) { if (p.state === 'sent') setPendingState(p, 'queued'); });
}

// A refusal from the server (rate limit, error): a transient toast, and the oldest
// message it had not echoed yet is the one it refused.
export function refuseOldestSent(text) {
  showToast(text);
  var p = state.pending.filter(function (q) { return q.state === 'sent'; })[0];
  if (p) setPendingState(p, 'failed');
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
// that, an echo could not be told from history).
export function flush() {
  var ws = state.ws;
  if (!ws || !adapter.canSend() || ws.readyState !== 1) return;
  state.pending.forEach(function (p) {
    if (p.state !== 'queued') return;
    ws.send(JSON.stringify({ type: 'message', text: p.text }));
    setPendingState(p, 'sent');
  });
}

export function onComposerSubmit(e) {
  e.preventDefault();
  var text = ui.input.value.trim();
  if (!text || state.closed || !state.conversation) return;
  ui.input.value = '';
  autosize();
  sendText(text);
  ui.input.focus();
}

// Enter sends, Shift+Enter is a newline; Enter while an IME is composing
// (Chinese, Japanese…) only confirms the composition.
export function onInputKey(e) {
  if (e.key !== 'Enter' || e.shiftKey || e.isComposing || e.keyCode === 229) return;
  onComposerSubmit(e);
}

export function autosize() {
  ui.input.style.height = 'auto';
  ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + 'px';
}
