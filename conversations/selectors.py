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


CONVERSATION_FIELDS = [
    "id",
    "status",
    "visitor_name",
    "locale",
    "page_url",
    "claimed_by_id",
    "claimed_by_name",
    "note",
    "created_at",
    "updated_at",
    "closed_at",
]
MESSAGE_FIELDS = ["seq", "direction", "text", "agent_name", "created_at"]


def conversation_document(*, conversation: Conversation) -> dict:
    """Everything stored about one conversation, as one JSON-ready document."""
    messages = list(Message.objects.filter(conversation=conversation).order_by("seq").values(*MESSAGE_FIELDS))
    agents = {m["agent_name"] for m in messages if m["agent_name"]}
    if conversation.claimed_by_name:
        agents.add(conversation.claimed_by_name)
    return {
        **{field: getattr(conversation, field) for field in CONVERSATION_FIELDS},
        "agents": sorted(agents),
        "messages": messages,
    }


def message_list_latest(*, conversation: Conversation, limit: int) -> list[Message]:
    """The conversation's last `limit` messages, oldest first."""
    latest = Message.objects.filter(conversation=conversation).order_by("-seq")[:limit]
    return list(reversed(latest))


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


def conversation_synthetic_get() -> Conversation | None:
    """The tenant's open synthetic conversation (the deep health check's), if any."""
    return (
        Conversation.objects.filter(is_synthetic=True)
        .exclude(status=Conversation.Status.CLOSED)
        .order_by("-created_at")
        .first()
    )
