import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count

from chatorical import redaction, tenancy, written_queries
from tenants import crypto
from tenants.models import ApiKey, Membership, TelegramConfig, Tenant


def tenant_get_active(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug, status=Tenant.Status.ACTIVE).first()


def tenant_get_active_by_id(*, tenant_id: int) -> Tenant | None:
    return Tenant.objects.filter(pk=tenant_id, status=Tenant.Status.ACTIVE).first()


def tenant_get(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


# Every v1 request and socket looks it up: written out (chatorical/written_queries.py).
_TENANT_BY_SLUG_SQL = f"""
SELECT {written_queries.columns(Tenant, alias="tenant")}
FROM {Tenant._meta.db_table} AS tenant WHERE tenant.slug = %(slug)s"""


def tenant_get_default() -> Tenant:
    """The v1 deployment's tenant; created by a migration, so it always exists."""
    tenant = written_queries.instance_fetched(Tenant, _TENANT_BY_SLUG_SQL, {"slug": settings.DEFAULT_TENANT_SLUG})
    if tenant is None:
        raise Tenant.DoesNotExist(f"no tenant {settings.DEFAULT_TENANT_SLUG!r}: run the migrations")
    return tenant


def request_tenant(request, slug: str | None) -> Tenant | None:
    """The active tenant `slug` names (the default tenant for None), looked up once per
    request: the CORS check (cors.py) and the tenant middleware both ask for it."""
    looked_up = request.__dict__.setdefault("_tenants_looked_up", {})
    if slug not in looked_up:
        looked_up[slug] = tenant_get_default() if slug is None else tenant_get_active(slug=slug)
    return looked_up[slug]


def tenant_list() -> list[Tenant]:
    """Every tenant, with `api_key_count` (live keys) and `has_telegram` for the operator."""
    with tenancy.cross_tenant("the operator's tenant list counts each tenant's keys"):
        key_counts = dict(
            ApiKey.objects.filter(revoked_at__isnull=True)
            .values("tenant_id")
            .annotate(count=Count("pk"))
            .values_list("tenant_id", "count")
        )
        with_telegram = set(TelegramConfig.objects.values_list("tenant_id", flat=True))
    tenants = list(Tenant.objects.order_by("slug"))
    for tenant in tenants:
        tenant.api_key_count = key_counts.get(tenant.id, 0)
        tenant.has_telegram = tenant.id in with_telegram
    return tenants


def origin_normalize(origin: str) -> str | None:
    """`https://Shop.example:443/` -> `https://shop.example`, the form browsers send in
    `Origin`; None if it is not an http(s) origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default_port = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default_port else "")


def origin_allowed(*, tenant: Tenant, origin: str) -> bool:
    """Whether a browser page of `origin` may call the tenant's public endpoints and sockets.

    The default tenant's allowlist is WIDGET_ALLOWED_ORIGINS, where empty means any
    origin, as in v1. Any other tenant allows only the origins it lists.
    """
    if tenant.slug == settings.DEFAULT_TENANT_SLUG:
        allowlist = settings.WIDGET_ALLOWED_ORIGINS
        if not allowlist:
            return True
    else:
        allowlist = tenant.allowed_origins
    normalized = origin_normalize(origin or "")
    return normalized is not None and normalized in {origin_normalize(allowed) for allowed in allowlist}


@dataclass(frozen=True)
class TelegramSettings:
    """A tenant's decrypted Telegram settings. Never log this object."""

    bot_token: str
    support_group_id: int
    webhook_secret: str
    header_secret: str

    def __repr__(self):
        return f"TelegramSettings(support_group_id={self.support_group_id}, secrets=***)"


def secret_mask(secret: str) -> str:
    """What screens show of a secret: enough to tell two apart, not enough to use one."""
    if not secret:
        return ""
    return "••••" + secret[-4:] if len(secret) >= 16 else "••••"


def webhook_secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _default_tenant_settings() -> TelegramSettings | None:
    if not (settings.BOT_TOKEN and settings.SUPPORT_GROUP_ID):
        return None
    return TelegramSettings(
        bot_token=settings.BOT_TOKEN,
        support_group_id=int(settings.SUPPORT_GROUP_ID),
        webhook_secret=settings.WEBHOOK_SECRET,
        header_secret=settings.TELEGRAM_HEADER_SECRET,
    )


def telegram_settings_for(tenant: Tenant) -> TelegramSettings | None:
    """The default tenant's come from the environment, as in v1; others' from the database."""
    if tenant.slug == settings.DEFAULT_TENANT_SLUG:
        return _default_tenant_settings()
    with tenancy.tenant_context(tenant):
        config = TelegramConfig.objects.filter(tenant=tenant).first()
    if config is None:
        return None
    telegram = TelegramSettings(
        bot_token=crypto.decrypt(config.bot_token_encrypted),
        support_group_id=config.support_group_id,
        webhook_secret=crypto.decrypt(config.webhook_secret_encrypted),
        header_secret=crypto.decrypt(config.header_secret_encrypted) if config.header_secret_encrypted else "",
    )
    redaction.secret_register(telegram.bot_token, telegram.webhook_secret, telegram.header_secret)
    return telegram


def tenant_for_webhook_secret(secret: str) -> Tenant | None:
    """The active tenant whose webhook path secret this is, or None."""
    if settings.WEBHOOK_SECRET and _constant_time_equal(secret, settings.WEBHOOK_SECRET):
        return tenant_get_default()
    with tenancy.cross_tenant("the v2 webhook finds its tenant by the path secret's digest"):
        config = (
            TelegramConfig.objects.select_related("tenant")
            .filter(webhook_secret_digest=webhook_secret_digest(secret), tenant__status=Tenant.Status.ACTIVE)
            .first()
        )
    return config.tenant if config else None


def _constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def api_key_hash(raw_key: str) -> str:
    # Keys are 256 random bits: a plain SHA-256 cannot be reversed by guessing.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_for_raw_key(*, raw_key: str) -> ApiKey | None:
    """The live key of an active tenant that `raw_key` is, or None. Called before any
    tenant is known: the key is what names its tenant."""
    with tenancy.cross_tenant("an API key is looked up by its hash before its tenant is known"):
        return (
            ApiKey.objects.select_related("tenant")
            .filter(key_hash=api_key_hash(raw_key), revoked_at__isnull=True, tenant__status=Tenant.Status.ACTIVE)
            .first()
        )


def api_key_find(*, prefix_or_id: str) -> ApiKey | None:
    """The key the operator means by its prefix (`chk_…`) or its numeric id."""
    with tenancy.cross_tenant("the operator names a key by prefix or id, not by tenant"):
        keys = ApiKey.objects.select_related("tenant")
        if prefix_or_id.isdigit():
            return keys.filter(pk=int(prefix_or_id)).first()
        return keys.filter(prefix=prefix_or_id).first()


def membership_for_user(*, user) -> Membership | None:
    """The staff user's tenant membership: it decides which tenant the admin acts for."""
    if not user.is_authenticated:
        return None
    with tenancy.cross_tenant("the admin learns a staff user's tenant from their membership"):
        return Membership.objects.select_related("tenant").filter(user=user).first()
