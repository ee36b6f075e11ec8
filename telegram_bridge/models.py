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


class TelegramTopic(TenantOwned):
    """A conversation's forum topic in the support group and its pinned header post.
    Deleting the conversation queues the topic's removal in Telegram (TopicDelete)."""

    conversation = models.OneToOneField(
        "conversations.Conversation", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    chat_id = models.BigIntegerField(null=True, blank=True)
    thread_id = models.BigIntegerField(null=True, blank=True)
    header_message_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "thread_id"],
                condition=models.Q(thread_id__isnull=False),
                name="tgtopic_tenant_thread_unique",
            )
        ]

    def __str__(self):
        return f"topic {self.thread_id} of {self.conversation_id}"


class TelegramDelivery(TenantOwned):
    """One post sent for an outbox event, or for a run of the message log: a retry skips
    the parts already sent, and posts the same run of messages again."""

    event = models.ForeignKey(
        "conversations.OutboxEvent", on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    # A post of messages: the conversation and the seqs of its first and last message.
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    first_seq = models.BigIntegerField(null=True, blank=True)
    last_seq = models.BigIntegerField(null=True, blank=True)
    part = models.PositiveIntegerField()
    telegram_message_id = models.BigIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "part"], name="tgdelivery_event_part_unique"),
            models.UniqueConstraint(
                fields=["conversation", "first_seq", "part"],
                condition=models.Q(conversation__isnull=False),
                name="tgdelivery_messages_part_unique",
            ),
        ]


class ChatMigration(TenantOwned):
    """A support group that Telegram upgraded to a supergroup with a new id."""

    from_chat_id = models.BigIntegerField()
    to_chat_id = models.BigIntegerField()
    migrated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "from_chat_id"], name="chatmigration_unique")]
