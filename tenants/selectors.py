import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings

from tenants import crypto
from tenants.models import TelegramConfig, Tenant


def tenant_get_active(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug, status=Tenant.Status.ACTIVE).first()


def tenant_get_default() -> Tenant:
    """The v1 deployment's tenant; created by a migration, so it always exists."""
    return Tenant.objects.get(slug=settings.DEFAULT_TENANT_SLUG)


@dataclass(frozen=True)
class TelegramSettings:
    """A tenant's decrypted Telegram settings. Never log this object."""

    bot_token: str
    support_group_id: int
    webhook_secret: str
    header_secret: str

    def __repr__(self):
        return f"TelegramSettings(support_group_id={self.support_group_id}, secrets=***)"


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
    config = TelegramConfig.objects.filter(tenant=tenant).first()
    if config is None:
        return None
    return TelegramSettings(
        bot_token=crypto.decrypt(config.bot_token_encrypted),
        support_group_id=config.support_group_id,
        webhook_secret=crypto.decrypt(config.webhook_secret_encrypted),
        header_secret=crypto.decrypt(config.header_secret_encrypted) if config.header_secret_encrypted else "",
    )


def tenant_for_webhook_secret(secret: str) -> Tenant | None:
    """The active tenant whose webhook path secret this is, or None."""
    if settings.WEBHOOK_SECRET and _constant_time_equal(secret, settings.WEBHOOK_SECRET):
        return tenant_get_default()
    config = (
        TelegramConfig.objects.select_related("tenant")
        .filter(webhook_secret_digest=webhook_secret_digest(secret), tenant__status=Tenant.Status.ACTIVE)
        .first()
    )
    return config.tenant if config else None


def _constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
