from django.db import models

from chatorical.ratelimit import validate_rate_limits


class Tenant(models.Model):
    """A customer of Chatorical. Not tenant-owned itself: it is what scopes everything else."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    allowed_origins = models.JSONField(default=list, blank=True)
    default_locale = models.CharField(max_length=35, default="en")
    plan = models.CharField(max_length=32, default="free")
    # Per-tenant rate limits over the plan's, e.g. {"conversation_start": {"ip": {"limit": 20}}}.
    rate_limits = models.JSONField(default=dict, blank=True, validators=[validate_rate_limits])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.slug

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class TelegramConfig(models.Model):
    """A tenant's bot and support group. Secrets are stored encrypted (tenants/crypto.py).

    `webhook_secret_digest` (SHA-256 of the path secret) lets the v2 webhook find the
    tenant with an indexed lookup without storing the secret in the clear.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="telegram_config")
    bot_token_encrypted = models.TextField()
    webhook_secret_encrypted = models.TextField()
    webhook_secret_digest = models.CharField(max_length=64, unique=True)
    header_secret_encrypted = models.TextField(blank=True)
    support_group_id = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Telegram config of {self.tenant_id}"
