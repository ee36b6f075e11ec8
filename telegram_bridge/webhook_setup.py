"""Pointing a tenant's bot at our webhook (`tenant telegram ... --set-webhook`)."""

from django.conf import settings
from django.urls import reverse

from chatorical.errors import Invalid
from telegram_bridge import client as tg
from tenants.models import Tenant
from tenants.selectors import telegram_settings_for

ALLOWED_UPDATES = ["message", "callback_query"]


def webhook_url(*, tenant: Tenant, base_url: str) -> str:
    """The default tenant keeps its v1 path; every tenant is reachable on the v2 path."""
    telegram = telegram_settings_for(tenant)
    if tenant.slug == settings.DEFAULT_TENANT_SLUG and not telegram.webhook_secret:
        path = reverse("v1-telegram-webhook")
    else:
        path = reverse("v2-telegram-webhook", kwargs={"webhook_secret": telegram.webhook_secret})
    return base_url.rstrip("/") + path


def set_webhook(*, tenant: Tenant, base_url: str) -> str:
    """Calls setWebhook with the tenant's secrets; returns the URL Telegram will call."""
    telegram = telegram_settings_for(tenant)
    if telegram is None:
        raise Invalid(code="telegram_not_configured", message=f"Tenant {tenant.slug} has no Telegram bot configured.")
    if not base_url.startswith("https://"):
        raise Invalid(code="invalid_base_url", message="Telegram only calls https:// webhooks.")
    if not telegram.header_secret and not telegram.webhook_secret:
        raise Invalid(
            code="header_secret_required", message="The v1 webhook refuses every update without TELEGRAM_HEADER_SECRET."
        )
    url = webhook_url(tenant=tenant, base_url=base_url)
    tg.BotClient(telegram.bot_token).call(
        "setWebhook",
        url=url,
        secret_token=telegram.header_secret or None,
        allowed_updates=ALLOWED_UPDATES,
        max_connections=40,
    )
    return url
