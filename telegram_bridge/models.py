from django.db import models

from chatorical.tenant_models import TenantOwned


class TelegramUpdate(TenantOwned):
    """Every update a tenant's bot received: the seen-set that makes processing happen once.

    Telegram's update ids restart at a random value after a quiet week, so uniqueness is
    on (tenant, update_id), never "greater than the last one".
    """

    update_id = models.BigIntegerField()
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # The W3C trace context of the webhook call that brought it (chatorical/tracing.py), so the
    # worker's handling joins the same trace; empty when tracing is off.
    traceparent = models.CharField(max_length=55, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "update_id"], name="tgupdate_tenant_update_unique")]
        indexes = [
            models.Index(
                fields=["tenant", "id"], condition=models.Q(processed_at__isnull=True), name="tgupdate_pending"
            )
        ]


class TelegramDelivery(TenantOwned):
    """One post sent for one outbox event: a retried event skips the parts already sent."""

    event = models.ForeignKey("conversations.OutboxEvent", on_delete=models.CASCADE, related_name="deliveries")
    part = models.PositiveIntegerField()
    telegram_message_id = models.BigIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "part"], name="tgdelivery_event_part_unique")]


class ChatMigration(TenantOwned):
    """A support group that Telegram upgraded to a supergroup with a new id."""

    from_chat_id = models.BigIntegerField()
    to_chat_id = models.BigIntegerField()
    migrated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "from_chat_id"], name="chatmigration_unique")]
