"""The fallback chain of a text's locale: exact -> two-letter -> tenant default -> English
(tags themselves are checked and normalized in chatorical/validation.py)."""

from chatorical.validation import normalize_locale

BUILTIN_LOCALE = "en"


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
