"""Writing domain events to the outbox, and the registry of their handlers.

Handlers live in the apps that own the side effect (telegram_bridge); the worker that
drains the outbox is in conversations/tasks.py.
"""

import logging
from collections.abc import Callable

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from chatorical import tracing
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
        traceparent=tracing.traceparent(),
    )
    wake_on_commit(tenant_id=event.tenant_id, conversation_ids=[event.conversation_id])
    return event


def topic_delete_record(*, conversation) -> OutboxEvent | None:
    """Queues the removal of the conversation's topic, in the caller's transaction (which
    deletes the conversation). The sweep picks it up: it belongs to no conversation."""
    if conversation.thread_id is None:
        return None
    return OutboxEvent.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=None,
        kind=OutboxEvent.Kind.TOPIC_DELETE,
        payload={
            "chat_id": conversation.chat_id,
            "thread_id": conversation.thread_id,
            "conversation_id": str(conversation.pk),
        },
        available_at=timezone.now(),
    )


def wake_flag(conversation_id) -> str:
    return f"outbox:wake:{conversation_id}"


def wake_on_commit(*, tenant_id: int, conversation_ids) -> None:
    """Wakes a worker for each conversation once the caller's transaction commits."""
    conversation_ids = list(conversation_ids)
    if conversation_ids:
        transaction.on_commit(lambda: _wake_workers(tenant_id, conversation_ids))


def _wake_workers(tenant_id: int, conversation_ids: list) -> None:
    """Queues a drain of each conversation unless one is queued already: a burst of events
    costs one task, not one each. The flag expires, and the sweep covers a lost task."""
    from conversations.tasks import outbox_drain_conversation

    flagged = []
    try:
        flagged = _wake_flags_set(conversation_ids)
        for conversation_id in flagged:
            outbox_drain_conversation.delay(tenant_id=tenant_id, conversation_id=str(conversation_id))
    except Exception:
        # The events are stored; the sweep delivers them. The write that woke us must not fail.
        logger.exception("could not wake a worker for conversations %s", conversation_ids)
        if flagged:
            _wake_flags_clear(flagged)


def _wake_flags_clear(conversation_ids: list) -> None:
    """A flag whose task never reached the broker would hold back the next wake-ups."""
    try:
        cache.delete_many([wake_flag(conversation_id) for conversation_id in conversation_ids])
    except Exception:
        logger.warning("wake flags left to expire (WAKE_FLAG_SECONDS): Redis is away")


def _wake_flags_set(conversation_ids: list) -> list:
    """Sets the wake flags of the conversations; returns those whose flag was not set yet.
    On Redis, in one round trip for the whole batch."""
    if not hasattr(cache, "client"):  # the in-process cache of an embedded run
        return [c for c in conversation_ids if cache.add(wake_flag(c), 1, timeout=WAKE_FLAG_SECONDS)]
    pipeline = cache.client.get_client(write=True).pipeline(transaction=False)
    for conversation_id in conversation_ids:
        pipeline.set(cache.make_key(wake_flag(conversation_id)), 1, nx=True, ex=WAKE_FLAG_SECONDS)
    return [c for c, was_set in zip(conversation_ids, pipeline.execute(), strict=True) if was_set]
