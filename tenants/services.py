import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.utils import timezone

from chatorical import plans, tenancy
from chatorical.audit_trail import audit_record
from chatorical.errors import Conflict, Invalid
from chatorical.validation import locale_check
from tenants import crypto, retention
from tenants.models import ApiKey, Membership, TelegramConfig, Tenant
from tenants.selectors import api_key_hash, origin_normalize, webhook_secret_digest

# Telegram's rule for secret_token; we hold the path secret to the same alphabet.
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
BOT_TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,}$")

API_KEY_PREFIX_CHARS = 12
# A key's last use is written at most this often, so a busy key costs no write per request.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


@transaction.atomic
def tenant_create(*, slug: str, name: str, origins: list[str] = (), locale: str = "en", plan: str = "free") -> Tenant:
    try:
        validate_slug(slug)
    except ValidationError:
        raise Invalid(code="invalid_slug", message="The slug must be letters, digits, `-` and `_` only.") from None
    if len(slug) > Tenant._meta.get_field("slug").max_length:
        raise Invalid(code="invalid_slug", message="The slug is longer than 63 characters.")
    if not name.strip():
        raise Invalid(code="invalid_name", message="The tenant needs a name.")
    locale_check(locale)
    if not plan or len(plan) > Tenant._meta.get_field("plan").max_length:
        raise Invalid(code="invalid_plan", message="The plan must be a name of 1-32 characters.")
    if Tenant.objects.filter(slug=slug).exists():
        raise Conflict(code="tenant_exists", message=f"A tenant `{slug}` already exists.")
    allowed_origins = []
    for origin in origins:
        normalized = origin_normalize(origin)
        if normalized is None:
            raise Invalid(code="invalid_origin", message=f"`{origin}` is not an origin such as https://shop.example.")
        if normalized not in allowed_origins:
            allowed_origins.append(normalized)
    tenant_origins_check(tenant=Tenant(slug=slug, plan=plan), origins=allowed_origins)
    tenant = Tenant.objects.create(
        slug=slug, name=name.strip(), allowed_origins=allowed_origins, default_locale=locale, plan=plan
    )
    audit_record(tenant_id=tenant.id, action="tenant.create", object_type="tenants.tenant", object_id=tenant.pk)
    return tenant


def tenant_origins_check(*, tenant: Tenant, origins: list[str]) -> None:
    """Raises Invalid when `origins` are more than the plan allows. A tenant already above a
    lowered limit keeps its origins and may remove some, but add none."""
    most = plans.policy().widget_origins_max(tenant)
    if most is not None and len(origins) > max(most, len(tenant.allowed_origins or ())):
        raise Invalid(
            code="plan_limit_reached",
            message=f"The plan `{tenant.plan}` allows {most} widget origins; {len(origins)} given.",
        )


def membership_seat_check(*, tenant: Tenant) -> None:
    """Raises Invalid when the tenant's members already fill the seats of its plan."""
    most = plans.policy().admin_seats_max(tenant)
    if most is None:
        return
    with tenancy.tenant_context(tenant):
        taken = Membership.objects.filter(tenant=tenant).count()
    if taken >= most:
        raise Invalid(
            code="plan_limit_reached", message=f"The plan `{tenant.plan}` allows {most} admin seats, all taken."
        )


def telegram_config_validate(*, tenant: Tenant, bot_token: str, webhook_secret: str, header_secret: str = "") -> None:
    """Raises Invalid for settings `telegram_config_set` would refuse; forms call it to
    show the refusal next to the field."""
    if not BOT_TOKEN_RE.match(bot_token):
        raise Invalid(code="invalid_bot_token", message="The bot token does not look like `123456:ABC...`.")
    for name, value in (("webhook secret", webhook_secret), ("header secret", header_secret or "x")):
        if not SECRET_RE.match(value):
            raise Invalid(code="invalid_secret", message=f"The {name} must be 1-256 characters of A-Z a-z 0-9 _ -.")
    if len(webhook_secret) < settings.WEBHOOK_SECRET_MIN_CHARS:
        raise Invalid(
            code="webhook_secret_too_short",
            message=f"The webhook secret must be at least {settings.WEBHOOK_SECRET_MIN_CHARS} characters.",
        )
    with tenancy.cross_tenant("a webhook secret routes to one tenant: it must be unique across tenants"):
        taken = (
            TelegramConfig.objects.filter(webhook_secret_digest=webhook_secret_digest(webhook_secret))
            .exclude(tenant=tenant)
            .exists()
        )
    if taken:
        raise Conflict(code="webhook_secret_taken", message="Another tenant uses this webhook secret.")


def telegram_secret_generate() -> str:
    """32 random bytes in Telegram's secret_token alphabet (43 characters)."""
    return secrets.token_urlsafe(32)


@transaction.atomic
def telegram_config_set(
    *, tenant: Tenant, bot_token: str, support_group_id: int, webhook_secret: str, header_secret: str = ""
) -> TelegramConfig:
    telegram_config_validate(
        tenant=tenant, bot_token=bot_token, webhook_secret=webhook_secret, header_secret=header_secret
    )
    with tenancy.tenant_context(tenant):
        config, created = TelegramConfig.objects.update_or_create(
            tenant=tenant,
            defaults={
                "bot_token_encrypted": crypto.encrypt(bot_token),
                "webhook_secret_encrypted": crypto.encrypt(webhook_secret),
                "webhook_secret_digest": webhook_secret_digest(webhook_secret),
                "header_secret_encrypted": crypto.encrypt(header_secret) if header_secret else "",
                "support_group_id": int(support_group_id),
            },
        )
    audit_record(
        tenant_id=tenant.id,
        action="telegram_config.create" if created else "telegram_config.update",
        object_type="tenants.telegramconfig",
        object_id=config.pk,
        changed_fields=["bot_token", "webhook_secret", "header_secret", "support_group_id"],
    )
    return config


@transaction.atomic
def telegram_configs_reencrypt() -> int:
    """Re-encrypts every tenant's Telegram secrets with the first of CHANNEL_CONFIG_KEYS,
    so the older keys can be dropped. Raises SecretUnreadable (and changes nothing) if a
    secret is readable by no configured key."""
    fields = ("bot_token_encrypted", "webhook_secret_encrypted", "header_secret_encrypted")
    with tenancy.cross_tenant("key rotation re-encrypts every tenant's secrets"):
        configs = list(TelegramConfig.objects.select_for_update().order_by("pk"))
        for config in configs:
            for field in fields:
                value = getattr(config, field)
                if value:
                    setattr(config, field, crypto.rotate_token(value))
            config.save(update_fields=[*fields, "updated_at"])
            audit_record(
                tenant_id=config.tenant_id,
                action="telegram_config.reencrypt",
                object_type="tenants.telegramconfig",
                object_id=config.pk,
                changed_fields=fields,
            )
    return len(configs)


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    raw_key: str  # shown to the caller once; never stored

    def __repr__(self):
        return f"IssuedApiKey({self.api_key!r}, raw_key=***)"


def scopes_clean(scopes) -> list[str]:
    if not isinstance(scopes, (list, tuple)) or not scopes:
        raise Invalid(code="invalid_scopes", message="Give at least one scope.")
    unknown = [scope for scope in scopes if scope not in ApiKey.Scope.values]
    if unknown:
        raise Invalid(
            code="unknown_scope",
            message=f"Unknown scope {', '.join(map(str, unknown))}; known: {', '.join(ApiKey.Scope.values)}.",
        )
    return sorted(set(scopes))


@transaction.atomic
def api_key_create(*, tenant: Tenant, name: str, scopes: list[str]) -> IssuedApiKey:
    name = name.strip()
    if not name or len(name) > ApiKey._meta.get_field("name").max_length:
        raise Invalid(code="invalid_name", message="The key's name must be 1-100 characters.")
    raw_key = f"chk_{secrets.token_urlsafe(32)}"
    with tenancy.tenant_context(tenant):
        api_key = ApiKey.objects.create(
            tenant=tenant,
            name=name,
            prefix=raw_key[:API_KEY_PREFIX_CHARS],
            key_hash=api_key_hash(raw_key),
            scopes=scopes_clean(scopes),
        )
    audit_record(
        tenant_id=tenant.id,
        action="api_key.create",
        object_type="tenants.apikey",
        object_id=api_key.pk,
        detail={"prefix": api_key.prefix, "name": api_key.name, "scopes": api_key.scopes},
    )
    return IssuedApiKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        with tenancy.tenant_context(api_key.tenant):
            api_key.save(update_fields=["revoked_at"])
        audit_record(
            tenant_id=api_key.tenant_id,
            action="api_key.revoke",
            object_type="tenants.apikey",
            object_id=api_key.pk,
            changed_fields=["revoked_at"],
            detail={"prefix": api_key.prefix, "name": api_key.name},
        )
    return api_key


@transaction.atomic
def tenant_retention_set(*, tenant: Tenant, days: int) -> Tenant:
    """Sets how many days the tenant's closed conversations are kept (0: kept for good)."""
    retention.retention_days_check(tenant=tenant, days=days)
    if tenant.retention_days != days:
        tenant.retention_days = days
        tenant.save(update_fields=["retention_days", "updated_at"])
        audit_record(
            tenant_id=tenant.id,
            action="tenant.retention_set",
            object_type="tenants.tenant",
            object_id=tenant.pk,
            changed_fields=["retention_days"],
            detail={"retention_days": days},
        )
    return tenant


def api_key_touch(*, api_key: ApiKey) -> None:
    """Records that the key was used, at most once per API_KEY_TOUCH_INTERVAL."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < API_KEY_TOUCH_INTERVAL:
        return
    with tenancy.tenant_context(api_key.tenant):
        # Conditional, so concurrent requests of one key write it once.
        ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gt=now - API_KEY_TOUCH_INTERVAL).update(
            last_used_at=now
        )
    api_key.last_used_at = now
