"""Telegram counts message length in UTF-16 code units; long texts become several posts."""

TELEGRAM_TEXT_LIMIT = 4096

# Where a cut reads best, in order of preference: a paragraph, a line, a word.
_BOUNDARIES = ("\n\n", "\n", " ")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> int:
    """The number of characters of `text` whose UTF-16 length fits in `limit`."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Cuts `text` into parts of at most `limit` UTF-16 units; "".join(parts) == text.

    Each cut goes after the last paragraph break, line break or space that keeps the part
    within the limit (and not in its first half, to avoid tiny parts); a text with
    none of those is cut hard, never inside a surrogate pair.
    """
    parts = []
    while utf16_length(text) > limit:
        window = _prefix_within(text, limit)
        cut = window
        for boundary in _BOUNDARIES:
            position = text.rfind(boundary, 0, window)
            if position >= window // 2:
                cut = position + len(boundary)
                break
        parts.append(text[:cut])
        text = text[cut:]
    if text:
        parts.append(text)
    return parts
