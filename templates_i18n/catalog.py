"""Every text key the product uses, its built-in English text and the placeholders it may use.

Tenants override any of them per locale; a key not listed here cannot be stored.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    text: str
    placeholders: frozenset[str] = frozenset()


def _entry(text: str, *names: str) -> Entry:
    return Entry(text=text, placeholders=frozenset(names))


# Message templates: what visitors get as info notes and what agents see in Telegram.
TEMPLATES: dict[str, Entry] = {
    "welcome": _entry(
        "Hi! Send us a message and one of our agents will answer here shortly.", "visitor_name", "tenant"
    ),
    "offline": _entry("Our team is not online right now. Leave a message and we will answer here.", "tenant"),
    "rate_limited": _entry("You are sending messages too fast; try again in {seconds} s.", "seconds"),
    "connect_rate_limited": _entry("Too many connections; try again in {seconds} s.", "seconds"),
    "too_many_sockets": _entry("This chat is open in too many windows; close one and reload this one."),
    "limiter_unavailable": _entry("Messages cannot be accepted right now; try again shortly."),
    "conversation_closed": _entry("This conversation has been closed.", "agent", "tenant"),
    "topic_header": _entry(
        "New conversation\nVisitor: {visitor_name}\nLocale: {locale}\nPage: {page_url}\nStatus: {status}",
        "visitor_name",
        "locale",
        "page_url",
        "status",
        "tenant",
    ),
    "claim_button": _entry("Claim"),
    "status_open": _entry("open, press Claim or send /claim to answer"),
    "status_claimed": _entry("claimed by {agent}", "agent"),
    "status_closed": _entry("closed"),
    "hint_claim_first": _entry("Your message was not sent: press Claim on the pinned post or send /claim first."),
    "hint_claimed_by_other": _entry("Your message was not sent: {agent} has claimed this conversation.", "agent"),
    "hint_closed": _entry("This conversation is closed; nothing was sent."),
    "hint_unknown_command": _entry("Commands here: /claim, /close, /note <text>."),
    "hint_text_only": _entry("Only text reaches the visitor; nothing was sent."),
    "topic_recreated": _entry(
        "The previous topic of this conversation was deleted. Latest messages:\n{history}", "history"
    ),
    "claimed_answer": _entry("You now answer this conversation."),
    # Billing (billing/): the visitor's note when the plan's limit stops a chat, and the
    # agents' warning in the support group when a limit nears or reaches its end.
    "plan_limit_reached": _entry(
        "Our chat cannot take more conversations or messages right now. Please contact us another way."
    ),
    "plan_usage_warning": _entry(
        "Plan usage of {tenant}: {used} of {limit} {limit_name} this period ({percent} %).",
        "used",
        "limit",
        "limit_name",
        "percent",
    ),
}

# UI strings of the widget, delivered by the v2 bootstrap.
UI_STRINGS: dict[str, Entry] = {
    "title": _entry("Chat with us", "tenant"),
    "launcher_label": _entry("Open chat"),
    "close_label": _entry("Close chat"),
    "name_label": _entry("Your name (optional)"),
    "start_button": _entry("Start chat"),
    "input_placeholder": _entry("Type a message…"),
    "send_button": _entry("Send"),
    "connecting": _entry("Connecting…"),
    "reconnecting": _entry("Reconnecting…"),
    "offline": _entry("Offline"),
    "agent_joined": _entry("{agent} joined", "agent"),
    "agent_joined_anonymous": _entry("An agent joined"),
    "closed": _entry("This conversation has ended."),
    "new_conversation": _entry("Start a new conversation"),
    "you": _entry("You"),
}

CATALOGS = {"template": TEMPLATES, "ui": UI_STRINGS}

# Every text may name the tenant; the renderer fills it in from the tenant's name.
ALWAYS_ALLOWED = frozenset({"tenant"})

# A value for every placeholder, so that staff can see how a text reads before a visitor does.
SAMPLE_VALUES = {
    "visitor_name": "Ada",
    "agent": "Grace",
    "seconds": "30",
    "locale": "de-AT",
    "page_url": "https://example.com/pricing",
    "status": "open",
    "history": "Ada: Hello?\nGrace: Hi Ada, how can I help?",
    "used": "80",
    "limit": "100",
    "limit_name": "conversations",
    "percent": "80",
}


def allowed_placeholders(kind: str, key: str) -> frozenset[str]:
    return CATALOGS[kind][key].placeholders | ALWAYS_ALLOWED
