from chatorical import tenancy, written_queries
from conversations.models import Conversation
from telegram_bridge.models import TelegramTopic, TelegramUpdate


def topic_get(*, conversation: Conversation) -> TelegramTopic | None:
    """Where the conversation's forum topic lives, once the worker opened it."""
    return TelegramTopic.objects.filter(conversation_id=conversation.pk, thread_id__isnull=False).first()


# Run for every agent's message: written out (chatorical/written_queries.py). A thread is
# unique in its tenant.
_CONVERSATION_IN_TOPIC_SQL = f"""
SELECT {written_queries.columns(Conversation, alias="conversation")}
FROM {Conversation._meta.db_table} AS conversation
JOIN {TelegramTopic._meta.db_table} AS topic ON topic.conversation_id = conversation.id
WHERE topic.tenant_id = %(tenant)s AND topic.chat_id = %(chat_id)s AND topic.thread_id = %(thread_id)s"""


def conversation_in_topic(*, chat_id: int, thread_id: int) -> Conversation | None:
    """The conversation of the tenant in context whose topic this is."""
    params = {"tenant": tenancy.require_tenant().id, "chat_id": chat_id, "thread_id": thread_id}
    return written_queries.instance_fetched(Conversation, _CONVERSATION_IN_TOPIC_SQL, params)


def tenants_with_pending_updates() -> set[int]:
    """The tenants that have stored updates not processed yet (for the sweep)."""
    with tenancy.cross_tenant("sweep finds unprocessed updates of every tenant"):
        return set(
            TelegramUpdate.objects.filter(processed_at__isnull=True).order_by().values_list("tenant_id", flat=True)
        )
