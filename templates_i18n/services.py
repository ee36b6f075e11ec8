"""Writes of tenant texts. Each validates key, locale and placeholders, and makes every
process see the change at once by bumping the tenant's cache version on commit."""

from django.db import transaction

from chatorical.errors import ApiError
from templates_i18n import rendering
from templates_i18n.catalog import CATALOGS
from templates_i18n.locales import normalize_locale
from templates_i18n.selectors import MODELS, bump_version

TEXT_MAX_CHARS = 4000


def _invalidate(tenant_id: int) -> None:
    # Now, for this transaction's own reads; again on commit, in case another process
    # cached the old rows in between.
    bump_version(tenant_id)
    transaction.on_commit(lambda: bump_version(tenant_id))


def text_validate(*, kind: str, key: str, locale: str, text: str) -> str:
    """Returns the normalized locale, or raises ApiError naming what is wrong."""
    catalog = CATALOGS[kind]
    if key not in catalog:
        raise ApiError(400, "unknown_key", f"Unknown key {key!r}; the keys are: {', '.join(sorted(catalog))}.")
    normalized = normalize_locale(locale)
    if not normalized:
        raise ApiError(400, "invalid_locale", "`locale` must be a language tag such as `en` or `de-AT`.")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "empty_text", "`text` must be a non-empty string.")
    if len(text) > TEXT_MAX_CHARS:
        raise ApiError(400, "text_too_long", f"`text` is longer than {TEXT_MAX_CHARS} characters.")
    rendering.validate(text, allowed=catalog[key].placeholders | {"tenant"})
    return normalized


@transaction.atomic
def text_set(*, tenant, kind: str, key: str, locale: str, text: str):
    """Creates or replaces the tenant's `kind` text for (locale, key)."""
    locale = text_validate(kind=kind, key=key, locale=locale, text=text)
    row, _ = MODELS[kind].objects.update_or_create(tenant=tenant, locale=locale, key=key, defaults={"text": text})
    _invalidate(tenant.id)
    return row


@transaction.atomic
def text_update(*, row, key: str | None = None, locale: str | None = None, text: str | None = None):
    kind = "template" if isinstance(row, MODELS["template"]) else "ui"
    row.locale = text_validate(kind=kind, key=key or row.key, locale=locale or row.locale, text=text or row.text)
    row.key, row.text = key or row.key, text or row.text
    clash = type(row).objects.filter(locale=row.locale, key=row.key).exclude(pk=row.pk).exists()
    if clash:
        raise ApiError(409, "duplicate", f"A {row.key!r} text for {row.locale} exists already.")
    row.save()
    _invalidate(row.tenant_id)
    return row


@transaction.atomic
def text_delete(*, row) -> None:
    tenant_id = row.tenant_id
    row.delete()
    _invalidate(tenant_id)
