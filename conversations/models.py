import uuid

from django.db import models
from django.db.models import Q

from chatorical.tenant_models import TenantOwned


class Conversation(TenantOwned):
    class Status(models.TextChoices):
        OPEN = "open"
        CLAIMED = "claimed"
        CLOSED = "closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    visitor_name = models.CharField(max_length=128, blank=True)
    locale = models.CharField(max_length=35, blank=True)
    page_url = models.URLField(max_length=2048, blank=True)
    claimed_by_id = models.BigIntegerField(null=True, blank=True)
    claimed_by_name = models.CharField(max_length=128, blank=True)
    note = models.TextField(blank=True)
    # The seq of the newest message: the next message takes last_seq + 1 under a row lock.
    last_seq = models.BigIntegerField(default=0)
    is_synthetic = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "updated_at"], name="conv_tenant_updated"),
            models.Index(fields=["tenant", "status"], name="conv_tenant_status"),
            # Conversations started per day (the admin's report).
            models.Index(fields=["tenant", "created_at"], name="conv_tenant_created"),
        ]

    def __str__(self):
        return f"{self.visitor_name or 'Visitor'} ({self.id})"

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED


class Message(TenantOwned):
    class Direction(models.TextChoices):
        INBOUND = "INBOUND"  # from the visitor
        OUTBOUND = "OUTBOUND"  # from an agent

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField()
    direction = models.CharField(max_length=8, choices=Direction.choices)
    text = models.TextField()
    agent_name = models.CharField(max_length=128, blank=True)
    # Set for an agent's message that came from Telegram: it needs no post back there.
    telegram_message_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The W3C trace context of the write that stored it, so the worker's delivery joins
    # the same trace (the message log is the outbox of messages); empty when tracing is off.
    traceparent = models.CharField(max_length=55, blank=True, default="", db_default="")

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [models.UniqueConstraint(fields=["conversation", "seq"], name="message_conversation_seq_unique")]

    def __str__(self):
        return f"{self.direction} #{self.seq}"


class OutboxEvent(TenantOwned):
    """A domain event, written in the transaction of the change it records.

    Workers deliver its side effects (Telegram) later, with retries; the row is the proof
    of what is still to do. Messages have no events: the message log is their outbox
    (OutboxCursor records how far it was handed on).
    """

    class Kind(models.TextChoices):
        CONVERSATION_STARTED = "ConversationStarted"
        # Not stored since the message log became the outbox of messages: the name of
        # their delivery in metrics and traces, and of the rows written before.
        MESSAGE_ADDED = "MessageAdded"
        CONVERSATION_CLAIMED = "ConversationClaimed"
        CONVERSATION_CLOSED = "ConversationClosed"
        CONVERSATION_RENAMED = "ConversationRenamed"
        CONVERSATION_NOTED = "ConversationNoted"
        AGENT_HINT = "AgentHint"  # a note from the bot to the agents in the topic
        # The topic of a deleted conversation is removed; the event outlives the
        # conversation (no foreign key) and names the topic in its payload.
        TOPIC_DELETE = "TopicDelete"

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        DEAD = "dead"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="outbox_events"
    )
    # The conversation's last_seq when the event was recorded: it is handled after the
    # messages up to that seq and before the ones after, as it happened.
    seq = models.BigIntegerField(default=0)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    available_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # The W3C trace context of the change that recorded it (chatorical/tracing.py), so the
    # worker's handling joins the same trace; empty when tracing is off.
    traceparent = models.CharField(max_length=55, blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                condition=Q(status="pending"),
                name="outbox_pending",
            ),
            # A conversation's oldest pending event, which the worker takes, in one probe
            # however long the conversation's history.
            models.Index(
                fields=["conversation", "id"],
                condition=Q(status="pending"),
                name="outbox_conversation_pending",
            ),
            models.Index(fields=["tenant", "status"], name="outbox_tenant_status"),
        ]

    def __str__(self):
        return f"{self.kind} #{self.pk} ({self.status})"


class OutboxCursor(TenantOwned):
    """The worker's place in one conversation: how far the message log has been handed to
    the message handlers, and the lease that lets one worker at a time act for it.

    A row of its own, so that neither the lease nor the progress writes the conversation
    row that every message bumps. Created by the first drain of the conversation.
    """

    conversation = models.OneToOneField(
        Conversation, primary_key=True, on_delete=models.CASCADE, related_name="outbox_cursor"
    )
    delivered_seq = models.BigIntegerField(default=0)
    # A worker holds the conversation until then; a killed worker's lease lapses.
    leased_until = models.DateTimeField(null=True, blank=True)
    # Which worker (host, process, thread): one whose drain broke off without letting the
    # lease go (the database went away) takes it back at once.
    leased_by = models.CharField(max_length=128, blank=True)
    # The messages after delivered_seq wait until then after a failure (attempts counts them).
    available_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    def __str__(self):
        return f"outbox cursor of {self.conversation_id} at {self.delivered_seq}"
