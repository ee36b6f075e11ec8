"""Resolving a text for a tenant and a locale, with the fallback chain and a per-tenant cache.

A tenant's texts are cached as one map in Redis under a version number that every write
bumps (templates_i18n/services.py), so an edit takes effect on every process at once.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from chatorical.errors import NotFound
from chatorical.validation import normalize_locale
from templates_i18n import rendering
from templates_i18n.catalog import CATALOGS
from templates_i18n.locales import fallback_chain
from templates_i18n.models import LegacyMessageTemplate, MessageTemplate, UiString
from tenants.models import Tenant

MODELS = {"template": MessageTemplate, "ui": UiString}
# What the API calls each kind (its 404 is `template_not_found`, `string_not_found`).
NOUNS = {"template": "template", "ui": "string"}
CACHE_SECONDS = 3600


@dataclass(frozen=True)
class Resolved:
    text: str
    locale: str  # the locale whose text was used
    step: str  # exact, language, tenant_default, builtin_locale, legacy or builtin


def _version_key(tenant_id: int) -> str:
    return f"texts:{tenant_id}:version"


def bump_version(tenant_id: int) -> None:
    try:
        cache.incr(_version_key(tenant_id))
    except ValueError:
        cache.set(_version_key(tenant_id), 1, timeout=None)


def _tenant_texts(tenant_id: int, kind: str) -> dict[tuple[str, str], str]:
    """{(locale, key): text} of one tenant and kind, from the cache or the database."""
    version = cache.get_or_set(_version_key(tenant_id), 1, timeout=None)
    cache_key = f"texts:{tenant_id}:{version}:{kind}"
    texts = cache.get(cache_key)
    if texts is None:
        rows = MODELS[kind].objects.filter(tenant_id=tenant_id).values_list("locale", "key", "text")
        texts = {(locale, key): text for locale, key, text in rows}
        cache.set(cache_key, texts, timeout=CACHE_SECONDS)
    return texts


def _legacy_texts() -> dict[tuple[str, str], str]:
    texts = cache.get("texts:legacy")
    if texts is None:
        texts = {(row.locale, row.key): row.text for row in LegacyMessageTemplate.objects.all()}
        cache.set("texts:legacy", texts, timeout=300)
    return texts


def resolve(*, tenant: Tenant, kind: str, key: str, locale: str | None) -> Resolved:
    chain = fallback_chain(locale, tenant.default_locale)
    own = _tenant_texts(tenant.id, kind)
    for candidate, step in chain:
        if (candidate, key) in own:
            return Resolved(text=own[(candidate, key)], locale=candidate, step=step)
    if kind == "template" and tenant.slug == settings.DEFAULT_TENANT_SLUG and not own:
        legacy = _legacy_texts()
        for candidate, _ in chain:
            if (candidate, key) in legacy:
                return Resolved(text=legacy[(candidate, key)], locale=candidate, step="legacy")
    return Resolved(text=CATALOGS[kind][key].text, locale="en", step="builtin")


def _tenant(tenant_id: int) -> Tenant:
    tenant = cache.get(f"texts:tenant:{tenant_id}")
    if tenant is None:
        tenant = Tenant.objects.get(pk=tenant_id)
        cache.set(f"texts:tenant:{tenant_id}", tenant, timeout=60)
    return tenant


def render_for(*, tenant: Tenant, text: str, variables: dict | None = None) -> str:
    """`text` rendered as visitors and agents see it: `{tenant}` is the tenant's name."""
    return rendering.render(text, {"tenant": tenant.name, **(variables or {})})


def template_text(*, tenant_id: int, key: str, locale: str = "", variables: dict | None = None) -> str:
    """The tenant's message `key` in the best locale for `locale`, rendered safely."""
    tenant = _tenant(tenant_id)
    resolved = resolve(tenant=tenant, kind="template", key=key, locale=locale)
    return render_for(tenant=tenant, text=resolved.text, variables=variables)


def ui_strings(*, tenant: Tenant, locale: str) -> dict[str, str]:
    """Every widget label, each resolved on its own (a tenant may translate only some)."""
    return {
        key: render_for(tenant=tenant, text=resolve(tenant=tenant, kind="ui", key=key, locale=locale).text)
        for key in CATALOGS["ui"]
    }


def text_list(*, kind: str, key: str = "", locale: str = ""):
    """The tenant's own `kind` texts, in a stable order for paging; `locale` as any spelling
    of the tag (`de_at` finds `de-AT`)."""
    rows = MODELS[kind].objects.order_by("key", "locale", "id")
    if key:
        rows = rows.filter(key=key)
    if locale:
        rows = rows.filter(locale=normalize_locale(locale) or locale)
    return rows


def text_get(*, kind: str, text_id: int):
    """The tenant's `kind` text with this id, or None (also for another tenant's)."""
    return MODELS[kind].objects.filter(pk=text_id).first()


class TextNotFound(NotFound):
    def __init__(self, *, kind: str):
        noun = NOUNS[kind]
        super().__init__(f"No such {noun}.", code=f"{noun}_not_found")


def text_get_required(*, kind: str, text_id: int):
    """The tenant's `kind` text with this id; raises TextNotFound."""
    row = text_get(kind=kind, text_id=text_id)
    if row is None:
        raise TextNotFound(kind=kind)
    return row
