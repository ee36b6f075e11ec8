// The one widget on the page: its state, and the version adapter that the core calls.

export var state = {
  conversation: null, // what the version stores to resume (v1: id and token, v2: the id)
  ws: null,
  connecting: false,  // a token request before the socket is in flight (v2)
  attempt: 0,         // reconnect attempts since the last successful (re)connect
  retryTimer: 0,
  closed: false,      // server sent conversation_closed
  pending: [],        // local bubbles: {text, state: queued|sent|failed, el, label, retry}
  notes: {},          // note key -> element
  unread: 0,
  isOpen: false,
  openRequested: false,
  starting: false
};

// Filled once by the version's entry point:
//   connect()        opens the socket (and, in v2, fetches its token first)
//   startTarget()    {path, locale} of the request that starts a conversation
//   started(data, name)  begins the conversation the start request answered; false if invalid
//   freshState()     the version's own state fields, as at the start of a conversation
//   canSend()        whether the open socket may carry queued messages now
//   clearStored()    forgets the stored conversation
//   unreadLabel(n)   the launcher's label with n unread messages
//   onView(chat)     optional: the version's own parts of the start/chat views
//   escape()         optional: handles Escape first; true when it did
export var adapter = {};

export function useAdapter(hooks) {
  Object.assign(adapter, hooks);
  Object.assign(state, hooks.freshState());
}
