import uuid

from django.db.models import Prefetch, QuerySet

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


def conversation_list(*, status: str = "") -> QuerySet[Conversation]:
    """The tenant's conversations, the most recently active first."""
    conversations = Conversation.objects.order_by("-updated_at", "-pk")
    if status:
        conversations = conversations.filter(status=status)
    return conversations


def conversation_export_list(*, status: str = "") -> QuerySet[Conversation]:
    """Conversations with their messages (`conversation.messages.all()`, by seq), oldest first
    so that pages stay stable while new conversations arrive."""
    conversations = Conversation.objects.order_by("created_at", "pk").prefetch_related(
        Prefetch("messages", queryset=Message.objects.order_by("seq"))
    )
    if status:
        conversations = conversations.filter(status=status)
    return conversations
