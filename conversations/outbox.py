"""Writing domain events to the outbox, and the registry of their handlers.

Handlers live in the apps that own the side effect (telegram_bridge); the worker that
drains the outbox is in conversations/tasks.py.
"""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from conversations.models import OutboxEvent

Handler = Callable[[OutboxEvent], None]
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
    transaction.on_commit(lambda: _wake_worker(event))
    return event


def _wake_worker(event: OutboxEvent) -> None:
    from conversations.tasks import outbox_drain_conversation

    outbox_drain_conversation.delay(tenant_id=event.tenant_id, conversation_id=str(event.conversation_id))
