"""Reads of the data lifecycle: the tenant's export stream and its audit log."""

from collections.abc import Iterator
from datetime import datetime

from django.db.models import QuerySet

from audit.models import AuditEntry
from conversations.models import Conversation, Message
from conversations.selectors import CONVERSATION_FIELDS, MESSAGE_FIELDS
from lifecycle.streaming import CURSOR_ROWS, json_line

AUDIT_FIELDS = [
    "id",
    "created_at",
    "actor_type",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "changed_fields",
    "detail",
    "request_id",
    "client_ip_hash",
]


def export_lines() -> Iterator[str]:
    """The tenant's conversations, oldest first, each followed by its messages: one JSON
    object a line (`type` conversation or message). Two server-side cursors in the same
    order, walked together, so a conversation of any size never sits in memory."""
    conversations = Conversation.objects.order_by("created_at", "pk").values(*CONVERSATION_FIELDS)
    messages = (
        Message.objects.order_by("conversation__created_at", "conversation_id", "seq")
        .values("conversation_id", *MESSAGE_FIELDS)
        .iterator(chunk_size=CURSOR_ROWS)
    )
    message = next(messages, None)
    for conversation in conversations.iterator(chunk_size=CURSOR_ROWS):
        yield json_line({"type": "conversation", **conversation})
        # Same snapshot, same order: the messages of this conversation come next.
        while message is not None and message["conversation_id"] == conversation["id"]:
            yield json_line({"type": "message", **message})
            message = next(messages, None)


def audit_list(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor_type: str = "",
    actor_id: str = "",
    action: str = "",
    object_type: str = "",
    object_id: str = "",
) -> QuerySet[AuditEntry]:
    """The tenant's audit entries, oldest first, filtered (`until` is exclusive)."""
    entries = AuditEntry.objects.order_by("created_at", "id")
    filters = {
        "created_at__gte": since,
        "created_at__lt": until,
        "actor_type": actor_type,
        "actor_id": actor_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
    }
    return entries.filter(**{name: value for name, value in filters.items() if value})


def audit_rows(entries: QuerySet[AuditEntry]) -> Iterator[dict]:
    return entries.values(*AUDIT_FIELDS).iterator(chunk_size=CURSOR_ROWS)
