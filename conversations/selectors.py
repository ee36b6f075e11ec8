import uuid

from conversations.models import Conversation, Message


def conversation_get(*, conversation_id) -> Conversation | None:
    """The conversation of the tenant in context, or None (also for a malformed id)."""
    try:
        conversation_uuid = uuid.UUID(str(conversation_id))
    except ValueError:
        return None
    return Conversation.objects.filter(pk=conversation_uuid).first()


def message_list(*, conversation: Conversation, after_seq: int = 0, limit: int | None = None) -> list[Message]:
    messages = Message.objects.filter(conversation=conversation, seq__gt=after_seq).order_by("seq")
    if limit is not None:
        messages = messages[:limit]
    return list(messages)
