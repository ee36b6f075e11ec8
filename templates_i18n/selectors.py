"""Texts shown to visitors and agents. Per-tenant templates come with the templates issue;
until then every tenant gets the built-in English defaults."""

BUILTIN_TEMPLATES = {
    "welcome": "Hi! Send us a message and one of our agents will answer here shortly.",
    "conversation_closed": "This conversation has been closed.",
}


def template_text(*, tenant_id: int, key: str, locale: str = "") -> str:
    return BUILTIN_TEMPLATES[key]
