"""Writes of tenant texts. Each validates key, locale and placeholders, and makes every
process see the change at once by bumping the tenant's cache version on commit.

The API, the v1 admin endpoints and the Django admin all write through here, so a text is
checked the same way whichever way it arrives.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from chatorical.audit_trail import audit_record
from chatorical.errors import Conflict, Invalid
from chatorical.validation import locale_check, normalize_locale, text_check
from templates_i18n import rendering
from templates_i18n.catalog import CATALOGS, allowed_placeholders
from templates_i18n.selectors import MODELS, bump_version, render_for, resolve

TEXT_MAX_CHARS = 4000
KINDS = {model: kind for kind, model in MODELS.items()}


def _audit(row, action: str, changed_fields=()) -> None:
    audit_record(
        tenant_id=row.tenant_id,
        action=action,
        object_type=row._meta.label_lower,
        object_id=row.pk,
        changed_fields=changed_fields,
        detail={"key": row.key, "locale": row.locale},
    )


def _invalidate(tenant_id: int) -> None:
    # Now, for this transaction's own reads; again on commit, in case another process
    # cached the old rows in between.
    bump_version(tenant_id)
    transaction.on_commit(lambda: bump_version(tenant_id))


def _validate_key(*, kind: str, key) -> None:
    catalog = CATALOGS[kind]
    if not isinstance(key, str) or key not in catalog:
        raise Invalid(code="unknown_key", message=f"Unknown key {key!r}; the keys are: {', '.join(sorted(catalog))}.")


def text_validate(*, kind: str, key: str, locale: str, text: str) -> str:
    """Returns the normalized locale, or raises the Invalid error naming what is wrong."""
    _validate_key(kind=kind, key=key)
    normalized = normalize_locale(locale_check(locale))
    text_check(text, max_chars=TEXT_MAX_CHARS)
    rendering.validate(text, allowed=allowed_placeholders(kind, key))
    return normalized


def _duplicate(key: str, locale: str) -> Conflict:
    return Conflict(code="duplicate", message=f"A {key!r} text for {locale} exists already; change that one instead.")


def text_check_unique(*, tenant_id: int, kind: str, key: str, locale: str, exclude_id: int | None = None) -> None:
    """Raises 409 if the tenant has another `kind` text for (locale, key)."""
    clash = MODELS[kind].objects.filter(tenant_id=tenant_id, locale=locale, key=key).exclude(pk=exclude_id)
    if clash.exists():
        raise _duplicate(key, locale)


def _save_unique(row) -> None:
    # text_check_unique answers the common case; this, two requests racing to add the same text.
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        raise _duplicate(row.key, row.locale) from None


@transaction.atomic
def text_set(*, tenant, kind: str, key: str, locale: str, text: str):
    """Creates or replaces the tenant's `kind` text for (locale, key)."""
    locale = text_validate(kind=kind, key=key, locale=locale, text=text)
    row, created = MODELS[kind].objects.update_or_create(tenant=tenant, locale=locale, key=key, defaults={"text": text})
    _audit(row, f"{kind}.create" if created else f"{kind}.update", ["text"])
    _invalidate(tenant.id)
    return row


@transaction.atomic
def text_create(*, tenant, kind: str, key: str, locale: str, text: str):
    """Adds the tenant's `kind` text for (locale, key); 409 if there is one already."""
    locale = text_validate(kind=kind, key=key, locale=locale, text=text)
    text_check_unique(tenant_id=tenant.id, kind=kind, key=key, locale=locale)
    row = MODELS[kind](tenant=tenant, key=key, locale=locale, text=text)
    _save_unique(row)
    _audit(row, f"{kind}.create", ["key", "locale", "text"])
    _invalidate(tenant.id)
    return row


@transaction.atomic
def text_update(*, row, key: str | None = None, locale: str | None = None, text: str | None = None):
    """Changes what is given of key, locale and text; 409 if that makes it a second text
    for the same (locale, key)."""
    kind = KINDS[type(row)]
    key = row.key if key is None else key
    text = row.text if text is None else text
    locale = text_validate(kind=kind, key=key, locale=row.locale if locale is None else locale, text=text)
    text_check_unique(tenant_id=row.tenant_id, kind=kind, key=key, locale=locale, exclude_id=row.pk)
    changed = [
        name for name, value in (("key", key), ("locale", locale), ("text", text)) if getattr(row, name) != value
    ]
    row.key, row.locale, row.text = key, locale, text
    _save_unique(row)
    _audit(row, f"{kind}.update", changed)
    _invalidate(row.tenant_id)
    return row


@transaction.atomic
def text_delete(*, row) -> None:
    tenant_id = row.tenant_id
    _audit(row, f"{KINDS[type(row)]}.delete")
    row.delete()
    _invalidate(tenant_id)


@dataclass(frozen=True)
class Preview:
    text: str  # rendered
    key: str
    locale_used: str
    fallback_step: str  # a Resolved.step, or "draft"


def text_preview(*, tenant, kind: str, key: str, locale: str, variables: dict | None = None, text: str | None = None):
    """How a text reads for a visitor of `locale`, rendered with `variables`.

    With `text`, an unsaved draft, checked exactly as saving it would be. Without, the
    tenant's stored text, found through the same fallback chain as on the socket. Writes
    nothing; it lives here because it validates like the writes do.
    """
    variables = variables or {}
    if text is not None:
        locale_used, step = text_validate(kind=kind, key=key, locale=locale, text=text), "draft"
    else:
        _validate_key(kind=kind, key=key)
        resolved = resolve(tenant=tenant, kind=kind, key=key, locale=normalize_locale(locale_check(locale)))
        text, locale_used, step = resolved.text, resolved.locale, resolved.step
    unknown = set(variables) - allowed_placeholders(kind, key)
    if unknown:
        names = ", ".join(sorted(unknown))
        known = ", ".join(sorted(allowed_placeholders(kind, key)))
        raise Invalid(code="unknown_variable", message=f"{key!r} has no placeholder {names}; it may use {known}.")
    rendered = render_for(tenant=tenant, text=text, variables=variables)
    return Preview(text=rendered, key=key, locale_used=locale_used, fallback_step=step)
