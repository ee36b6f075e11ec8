"""The checks of what people type that more than one app takes in: texts (visitors' and
agents' messages, notes, tenants' wordings) and locale tags (widgets, texts, tenants)."""

import re

from chatorical.errors import Invalid

LOCALE_MAX_CHARS = 35
_LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


class InvalidText(Invalid):
    """`code` says which rule: empty_text, text_too_long or invalid_text."""


class InvalidLocale(Invalid):
    code = "invalid_locale"
    message = "`locale` must be a language tag such as `en` or `de-AT`."


def text_check(text, *, max_chars: int, field: str = "text") -> str:
    """`text` if it is a non-blank string of at most `max_chars` without NUL, that UTF-8
    can encode; else raises InvalidText naming `field`."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidText(f"`{field}` must be a non-empty string.", code="empty_text")
    if len(text) > max_chars:
        raise InvalidText(f"`{field}` is longer than {max_chars} characters.", code="text_too_long")
    if "\x00" in text:
        # PostgreSQL cannot store it, and no one needs it.
        raise InvalidText(f"`{field}` must not contain NUL characters.", code="invalid_text")
    try:
        text.encode()
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800" in JSON): psycopg could not send it, and would fail the
        # whole batch of messages it came in with (conversations/message_batches.py).
        raise InvalidText(f"`{field}` must be valid Unicode text.", code="invalid_text") from None
    return text


def locale_check(value) -> str:
    """`value`, as given, if it is a language tag (`en`, `de-AT`, `de_at`); else raises
    InvalidLocale."""
    if not isinstance(value, str) or len(value) > LOCALE_MAX_CHARS or not _LOCALE_RE.match(value):
        raise InvalidLocale()
    return value


def normalize_locale(tag: str | None) -> str:
    """`de_at`, `DE-at` -> `de-AT`; `zh_hant_tw` -> `zh-Hant-TW`; junk -> ""."""
    if not tag or not _LOCALE_RE.match(tag.strip()):
        return ""
    language, *rest = re.split(r"[-_]", tag.strip())
    parts = [language.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())  # a script
        elif len(part) in (2, 3):
            parts.append(part.upper())  # a region
        else:
            parts.append(part.lower())  # a variant
    return "-".join(parts)
