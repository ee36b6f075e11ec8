from django.db import transaction

from conversations.models import Conversation, OutboxEvent
from conversations.outbox import event_record


@transaction.atomic
def agent_hint_add(*, conversation: Conversation, text: str) -> OutboxEvent:
    """A note from the bot to the agents in the conversation's topic, sent in order."""
    return event_record(conversation=conversation, kind=OutboxEvent.Kind.AGENT_HINT, payload={"text": text})
