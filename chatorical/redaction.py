"""Masking secrets in text bound for a log line or a span: the ones with a shape (bot
tokens, API keys, webhook secrets in paths, bearers) by pattern, the others by value."""

import re

# Secrets with a recognisable shape: Telegram bot tokens (part of every Bot API URL), our
# API keys, webhook path secrets (part of the v2 webhook's URL), bearer and API-key
# credentials, and tokens in query strings (the sockets' `?token=`).
_SECRET_PATTERNS = (
    (re.compile(r"(?<!\d)(\d{3,20}):[A-Za-z0-9_-]{20,}"), r"\1:<redacted>"),
    (re.compile(r"\b(chk_)[A-Za-z0-9_-]{20,}"), r"\1<redacted>"),
    (re.compile(r"(/telegram/webhook/)[^/?#\s'\"]+"), r"\1<redacted>"),
    (re.compile(r"(?i)\b(bearer|api-key)(\s+)[^\s'\",]{8,}"), r"\1\2<redacted>"),
    (re.compile(r"([?&]token=)[^&#\s'\"]+"), r"\1<redacted>"),
)
# Secrets with no shape are masked by value: the ones settings hold, and the ones a tenant's
# configuration held when it was read (secret_register).
_SECRET_SETTINGS = (
    "SERVICE_TOKEN",
    "METRICS_TOKEN",
    "CONVERSATION_JWT_SECRET",
    "SECRET_KEY",
    "WEBHOOK_SECRET",
    "TELEGRAM_HEADER_SECRET",
    "BOT_TOKEN",
)
# Shorter values would mask ordinary words; no secret we accept is this short.
_SECRET_MIN_CHARS = 8
_registered_secrets: set[str] = set()


def secret_register(*values: str) -> None:
    """Masks these values in every log line this process writes from now on."""
    _registered_secrets.update(value for value in values if value and len(value) >= _SECRET_MIN_CHARS)


def _known_secrets() -> list[str]:
    from django.conf import settings

    configured = [getattr(settings, name, "") for name in _SECRET_SETTINGS] if settings.configured else []
    values = {value for value in configured if value and len(value) >= _SECRET_MIN_CHARS} | _registered_secrets
    # Longest first, so a secret that contains another is masked whole.
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    for secret in _known_secrets():
        text = text.replace(secret, "<redacted>")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text
