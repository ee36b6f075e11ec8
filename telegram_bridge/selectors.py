from conversations.models import Conversation
from telegram_bridge.models import TelegramTopic


def topic_get(*, conversation: Conversation) -> TelegramTopic | None:
    """Where the conversation's forum topic lives, once the worker opened it."""
    return TelegramTopic.objects.filter(conversation_id=conversation.pk, thread_id__isnull=False).first()


def conversation_in_topic(*, chat_id: int, thread_id: int | None) -> Conversation | None:
    topic = TelegramTopic.objects.filter(chat_id=chat_id, thread_id=thread_id).select_related("conversation").first()
    return topic.conversation if topic else None
