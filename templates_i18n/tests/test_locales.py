import pytest

from chatorical.validation import normalize_locale
from templates_i18n.locales import fallback_chain


@pytest.mark.parametrize(
    "tag, expected",
    [
        ("de_at", "de-AT"),
        ("DE-at", "de-AT"),
        ("en", "en"),
        ("zh_hant_tw", "zh-Hant-TW"),
        ("", ""),
        ("12", ""),
        (None, ""),
    ],
)
def test_normalize(tag, expected):
    assert normalize_locale(tag) == expected


def test_chain_is_exact_language_tenant_default_english():
    assert fallback_chain("de_AT", "fr-CA") == [
        ("de-AT", "exact"),
        ("de", "language"),
        ("fr-CA", "tenant_default"),
        ("fr", "tenant_default"),
        ("en", "builtin_locale"),
    ]


def test_chain_for_unknown_locale_is_the_defaults():
    assert fallback_chain("???", "en") == [("en", "tenant_default")]
