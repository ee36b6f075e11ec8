"""Locale tags and the fallback chain: exact -> two-letter -> tenant default -> English."""

import re

BUILTIN_LOCALE = "en"
_TAG_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


def normalize_locale(tag: str | None) -> str:
    """`de_at`, `DE-at` -> `de-AT`; `zh_hant_tw` -> `zh-Hant-TW`; junk -> ""."""
    if not tag or not _TAG_RE.match(tag.strip()):
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


def fallback_chain(locale: str | None, tenant_default: str | None) -> list[tuple[str, str]]:
    """[(locale, step)] in the order to try; each locale once, the first step naming it."""
    chain = []
    requested = normalize_locale(locale)
    default = normalize_locale(tenant_default)
    candidates = [
        (requested, "exact"),
        (requested.split("-")[0], "language"),
        (default, "tenant_default"),
        (default.split("-")[0], "tenant_default"),
        (BUILTIN_LOCALE, "builtin_locale"),
    ]
    for candidate, step in candidates:
        if candidate and candidate not in [c for c, _ in chain]:
            chain.append((candidate, step))
    return chain
