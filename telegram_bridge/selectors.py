from chatorical import tenancy
from conversations.models import Conversation
from telegram_bridge.models import TelegramTopic, TelegramUpdate


def topic_get(*, conversation: Conversation) -> TelegramTopic | None:
    """Where the conversation's forum topic lives, once the worker opened it."""
    return TelegramTopic.objects.filter(conversation_id=conversation.pk, thread_id__isnull=False).first()


def conversation_in_topic(*, chat_id: int, thread_id: int | None) -> Conversation | None:
    # A thread is unique in its tenant: no ORDER BY for first() to compile and sort.
    topics = TelegramTopic.objects.filter(chat_id=chat_id, thread_id=thread_id).select_related("conversation")[:1]
    return next((topic.conversation for topic in topics), None)


def tenants_with_pending_updates() -> set[int]:
    """The tenants that have stored updates not processed yet (for the sweep)."""
    with tenancy.cross_tenant("sweep finds unprocessed updates of every tenant"):
        return set(
            TelegramUpdate.objects.filter(processed_at__isnull=True).order_by().values_list("tenant_id", flat=True)
        )
