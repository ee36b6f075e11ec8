// The sandbox's support group as a Telegram client shows it. Every action goes to the
// sandbox, which sends the app the Update Telegram would send, to the real webhook.
(function () {
  'use strict';
  var API = '/dev/support-group/api/';
  var POLL_MS = 1000;
  var selected = null;   // thread id of the topic shown
  var lastState = '';

  function csrfToken() {
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : '';
  }

  function call(action, body) {
    return fetch(API + action, {
      method: 'POST',
      headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrfToken()},
      body: JSON.stringify(body),
      credentials: 'same-origin'
    }).then(function (response) {
      return response.json().then(function (payload) {
        if (!response.ok) throw new Error(payload.error ? payload.error.message : 'HTTP ' + response.status);
        return payload;
      });
    }).then(refresh, showError);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showError(error) {
    var bar = document.getElementById('error') || el('p', 'error');
    bar.id = 'error';
    bar.setAttribute('role', 'alert');
    bar.textContent = String(error.message || error);
    document.body.prepend(bar);
  }

  function buttonsOf(message) {
    var row = el('div', 'buttons');
    (message.buttons || []).forEach(function (button) {
      var b = el('button', 'inline-button', button.text);
      b.type = 'button';
      b.addEventListener('click', function () {
        call('press', {message_id: message.message_id, data: button.data});
      });
      row.appendChild(b);
    });
    return row;
  }

  function renderMessage(message) {
    if (message.service) return el('li', 'service', message.service);
    var item = el('li', message.is_bot ? 'msg bot' : 'msg agent');
    item.dataset.messageId = message.message_id;
    item.appendChild(el('span', 'from', message.from));
    item.appendChild(el('span', 'text', message.text));
    if (message.buttons && message.buttons.length) item.appendChild(buttonsOf(message));
    return item;
  }

  function renderTopics(state) {
    var list = document.getElementById('topics');
    list.textContent = '';
    state.topics.forEach(function (topic) {
      var item = el('li', topic.thread_id === selected ? 'selected' : '');
      var link = el('button', 'topic-link', topic.name + (topic.closed ? ' (closed)' : ''));
      link.type = 'button';
      link.addEventListener('click', function () { selected = topic.thread_id; lastState = ''; refresh(); });
      item.appendChild(link);
      list.appendChild(item);
    });
  }

  function composer(topic) {
    var form = el('form', 'composer');
    var input = el('input');
    input.name = 'text';
    input.placeholder = 'Reply, or /claim, /note <text>, /close';
    input.setAttribute('aria-label', 'Message to the topic');
    input.autocomplete = 'off';
    var send = el('button', '', 'Send');
    send.type = 'submit';
    form.appendChild(input);
    form.appendChild(send);
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (!input.value.trim()) return;
      call('message', {thread_id: topic.thread_id, text: input.value});
      input.value = '';
    });
    return form;
  }

  function renderTopic(state) {
    var pane = document.getElementById('topic');
    var topic = state.topics.filter(function (t) { return t.thread_id === selected; })[0];
    if (!topic) {
      pane.textContent = '';
      pane.appendChild(el('p', 'hint', 'No topic yet: start a chat in the widget.'));
      return;
    }
    var keep = pane.querySelector('.composer');
    var draft = keep ? keep.querySelector('input').value : '';
    var focused = keep && document.activeElement === keep.querySelector('input');
    pane.textContent = '';
    var head = el('div', 'topic-head');
    head.appendChild(el('h2', '', topic.name));
    if (topic.closed) head.appendChild(el('span', 'badge', 'closed'));
    var remove = el('button', 'danger', 'Delete topic');
    remove.type = 'button';
    remove.addEventListener('click', function () { call('delete-topic', {thread_id: topic.thread_id}); });
    head.appendChild(remove);
    pane.appendChild(head);
    var pinned = topic.messages.filter(function (m) { return m.pinned; }).pop();
    if (pinned) {
      var banner = el('div', 'pinned');
      banner.appendChild(el('span', 'label', 'Pinned'));
      banner.appendChild(el('span', 'text', pinned.text));
      banner.appendChild(buttonsOf(pinned));
      pane.appendChild(banner);
    }
    var log = el('ol', 'messages');
    topic.messages.forEach(function (m) { log.appendChild(renderMessage(m)); });
    pane.appendChild(log);
    var form = composer(topic);
    form.querySelector('input').value = draft;
    pane.appendChild(form);
    if (focused) form.querySelector('input').focus();
    log.scrollTop = log.scrollHeight;
  }

  function render(state) {
    document.getElementById('group-title').textContent = state.group.title;
    document.getElementById('agent-name').textContent = state.agent.name + ' (@' + state.agent.username + ')';
    var webhook = document.getElementById('webhook');
    var last = state.deliveries[0];
    webhook.textContent = state.webhook
      ? 'Webhook ' + state.webhook.url + (state.webhook.secret_token_set ? ' (with header secret)' : '') +
        (last ? '; last update ' + last.update_id + ': ' + (last.status || last.error) : '')
      : 'No webhook set yet.';
    if (!state.topics.some(function (t) { return t.thread_id === selected; })) {
      selected = state.topics.length ? state.topics[0].thread_id : null;
    }
    renderTopics(state);
    renderTopic(state);
  }

  function refresh() {
    return fetch(API + 'state', {credentials: 'same-origin'})
      .then(function (response) { return response.json(); })
      .then(function (state) {
        if (state.error) throw new Error(state.error.message);
        var error = document.getElementById('error');
        if (error) error.remove();
        var text = JSON.stringify(state) + selected;
        if (text !== lastState) { lastState = text; render(state); }
      })
      .catch(showError);
  }

  refresh();
  setInterval(refresh, POLL_MS);
})();
