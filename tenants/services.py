import re

from django.db import transaction

from chatorical.errors import ApiError
from tenants import crypto
from tenants.models import TelegramConfig, Tenant
from tenants.selectors import webhook_secret_digest

# Telegram's rule for secret_token; we hold the path secret to the same alphabet.
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
BOT_TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,}$")


@transaction.atomic
def telegram_config_set(
    *, tenant: Tenant, bot_token: str, support_group_id: int, webhook_secret: str, header_secret: str = ""
) -> TelegramConfig:
    if not BOT_TOKEN_RE.match(bot_token):
        raise ApiError(400, "invalid_bot_token", "The bot token does not look like `123456:ABC...`.")
    for name, value in (("webhook secret", webhook_secret), ("header secret", header_secret or "x")):
        if not SECRET_RE.match(value):
            raise ApiError(400, "invalid_secret", f"The {name} must be 1-256 characters of A-Z a-z 0-9 _ -.")
    digest = webhook_secret_digest(webhook_secret)
    if TelegramConfig.objects.filter(webhook_secret_digest=digest).exclude(tenant=tenant).exists():
        raise ApiError(409, "webhook_secret_taken", "Another tenant uses this webhook secret.")
    config, _ = TelegramConfig.objects.update_or_create(
        tenant=tenant,
        defaults={
            "bot_token_encrypted": crypto.encrypt(bot_token),
            "webhook_secret_encrypted": crypto.encrypt(webhook_secret),
            "webhook_secret_digest": digest,
            "header_secret_encrypted": crypto.encrypt(header_secret) if header_secret else "",
            "support_group_id": int(support_group_id),
        },
    )
    return config
