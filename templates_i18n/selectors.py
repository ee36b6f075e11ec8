"""Texts shown to visitors and agents. Per-tenant templates come with the templates issue;
until then every tenant gets these built-in English defaults."""

BUILTIN_TEMPLATES = {
    "welcome": "Hi! Send us a message and one of our agents will answer here shortly.",
    "conversation_closed": "This conversation has been closed.",
    "topic_header": (
        "New conversation\n"
        "Visitor: {visitor_name}\n"
        "Locale: {locale}\n"
        "Page: {page_url}\n"
        "Status: {status}"
    ),
    "claim_button": "Claim",
    "status_open": "open, press Claim or send /claim to answer",
    "status_claimed": "claimed by {agent}",
    "status_closed": "closed",
    "hint_claim_first": "Your message was not sent: press Claim on the pinned post or send /claim first.",
    "hint_claimed_by_other": "Your message was not sent: {agent} has claimed this conversation.",
    "hint_closed": "This conversation is closed; nothing was sent.",
    "hint_unknown_command": "Commands here: /claim, /close, /note <text>.",
    "hint_text_only": "Only text reaches the visitor; nothing was sent.",
    "topic_recreated": "The previous topic of this conversation was deleted. Latest messages:\n{history}",
    "claimed_answer": "You now answer this conversation.",
}


def template_text(*, tenant_id: int, key: str, locale: str = "", variables: dict | None = None) -> str:
    text = BUILTIN_TEMPLATES[key]
    return text.format(**variables) if variables else text
