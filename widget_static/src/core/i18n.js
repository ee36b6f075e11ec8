// The widget's labels, by the keys of the v2 tenant strings. These defaults are what both
// versions say alike; each version adds or replaces its own, and v2 then takes the
// tenant's from its bootstrap.
export var S = {
  title: 'Chat with us', launcher_label: 'Open chat', close_label: 'Close chat',
  name_label: 'Your name (optional)', start_button: 'Start chat',
  connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline',
  agent_joined: '{agent} joined', agent_joined_anonymous: 'An agent joined',
  new_conversation: 'Start a new conversation', you: 'You', agent: 'Agent', messages: 'Messages',
  sending: 'Sending…', failed: 'Not sent.', retry: 'Retry',
  ended: 'Your previous conversation has ended. You can start a new one.',
  network: 'Cannot reach the chat server. Please try again.',
  generic: 'Something went wrong. Please try again.',
  too_many: 'Too many attempts. Please try again in {seconds} s.'
};

export function fill(text, name, value) { return String(text).split('{' + name + '}').join(value); }
