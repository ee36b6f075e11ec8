from django.db import models
from django.db.models.functions import Now

from chatorical.tenant_models import TenantOwned


class AuditEntry(TenantOwned):
    """Who did what to which object of a tenant, and when. Append-only: a trigger
    (migration 0001) refuses every UPDATE and DELETE; the retention job's purge of entries
    past AUDIT_KEEP_DAYS is the one exception (lifecycle/retention.py)."""

    class ActorType(models.TextChoices):
        ADMIN_USER = "admin_user"
        API_KEY = "api_key"
        SERVICE_TOKEN = "service_token"
        CLI = "cli"
        TELEGRAM_AGENT = "telegram_agent"
        SYSTEM = "system"

    # Kept when the tenant goes: deleting a tenant that has a history is refused.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(db_default=Now())
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    # The admin user's id, the API key's prefix, the Telegram user id, the job's name.
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    # Names of the fields that changed, never their values (some are secrets).
    changed_fields = models.JSONField(default=list, blank=True)
    # Counts and other non-personal facts of the action (e.g. a retention run's totals).
    detail = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # A keyed hash of the client's IP: who came from one address can be told, not where.
    client_ip_hash = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name_plural = "audit entries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "created_at", "id"], name="audit_tenant_created"),
            models.Index(fields=["tenant", "action", "created_at"], name="audit_tenant_action"),
            models.Index(fields=["created_at"], name="audit_created"),
        ]

    def __str__(self):
        return f"{self.action} {self.object_type} {self.object_id} by {self.actor_type}:{self.actor_id}"
