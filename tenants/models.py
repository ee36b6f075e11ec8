from django.conf import settings
from django.db import models

from chatorical.ratelimit import validate_rate_limits
from chatorical.tenant_models import TenantOwned


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
    # Closed conversations older than this are purged by the retention job; 0 keeps them.
    # At most the plan's ceiling (tenants/retention.py).
    retention_days = models.PositiveIntegerField(default=90)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.slug

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class TelegramConfig(TenantOwned):
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


class ApiKey(TenantOwned):
    """An integration's key for the /api/v2 API. Only its SHA-256 and a short prefix are
    kept; the key itself is shown once, when it is created."""

    class Scope(models.TextChoices):
        CONVERSATIONS_READ = "conversations:read"
        CONVERSATIONS_WRITE = "conversations:write"
        TEMPLATES_READ = "templates:read"
        TEMPLATES_WRITE = "templates:write"
        EXPORTS_READ = "exports:read"
        USAGE_READ = "usage:read"
        HEALTH_READ = "health:read"  # GET /health/deep for the key's own tenant
        CONVERSATIONS_ERASE = "conversations:erase"
        AUDIT_READ = "audit:read"

    # DRF's request.user for API-key requests is the key itself: the integration has no
    # Django user, and code that asks `request.user.is_authenticated` must get an answer.
    is_authenticated = True
    is_anonymous = False

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Membership(TenantOwned):
    """Makes a staff user part of one tenant's team in the Django admin."""

    class Role(models.TextChoices):
        OWNER = "owner"  # everything of the tenant, API keys and the Telegram config included
        AGENT = "agent"  # conversations and messages; reads the rest
        VIEWER = "viewer"  # reads only

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.user} ({self.role})"
