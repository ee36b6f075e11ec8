"""Writing domain events to the outbox, and the registry of their handlers.

Handlers live in the apps that own the side effect (telegram_bridge); the worker that
drains the outbox is in conversations/tasks.py.
"""

import logging
from collections.abc import Callable

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from conversations.models import OutboxEvent

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], None]
WAKE_FLAG_SECONDS = 10
_handlers: dict[str, list[Handler]] = {}


def outbox_handler(kind: str):
    """Registers a function that performs one kind of event's side effect."""

    def register(fn: Handler) -> Handler:
        _handlers.setdefault(kind, []).append(fn)
        return fn

    return register


def handlers_for(kind: str) -> list[Handler]:
    return list(_handlers.get(kind, ()))


def event_record(*, conversation, kind: str, payload: dict | None = None) -> OutboxEvent:
    """Stores the event in the caller's transaction and wakes a worker once it commits."""
    event = OutboxEvent.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        kind=kind,
        payload=payload or {},
        available_at=timezone.now(),
    )
    wake_on_commit(tenant_id=event.tenant_id, conversation_id=event.conversation_id)
    return event


def wake_flag(conversation_id) -> str:
    return f"outbox:wake:{conversation_id}"


def wake_on_commit(*, tenant_id: int, conversation_id) -> None:
    """Wakes a worker for the conversation once the caller's transaction commits."""
    transaction.on_commit(lambda: _wake_worker(tenant_id, conversation_id))


def _wake_worker(tenant_id: int, conversation_id) -> None:
    """Queues a drain of the conversation unless one is queued already: a burst of events
    costs one task, not one each. The flag expires, and the sweep covers a lost task."""
    from conversations.tasks import outbox_drain_conversation

    try:
        if cache.add(wake_flag(conversation_id), 1, timeout=WAKE_FLAG_SECONDS):
            outbox_drain_conversation.delay(tenant_id=tenant_id, conversation_id=str(conversation_id))
    except Exception:
        # The event is stored; the sweep delivers it. The write that woke us must not fail.
        logger.exception("could not wake a worker for conversation %s", conversation_id)
