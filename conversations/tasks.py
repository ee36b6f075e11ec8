"""The outbox worker: delivers each conversation's events in order, with retries.

A conversation's events are handled strictly one after another: a worker only ever
takes the oldest pending event of a conversation, locked with SKIP LOCKED, so two workers
never work on one conversation at once and a crash (even SIGKILL) rolls the claim back.
"""

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.db.models import Subquery
from django.utils import timezone

from chatorical import tenancy, tracing
from chatorical.metrics import tenant_label
from conversations.metrics import OUTBOX_EVENTS
from conversations.models import OutboxEvent
from conversations.outbox import handlers_for, wake_flag
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 600.0
SWEEP_BATCH = 200


class RetryLater(Exception):
    """Raised by a handler that knows how long to wait (e.g. Telegram's retry_after).

    `counts=False` is for waits that say nothing about the event itself (a send budget, a
    right an admin must grant): those never push the event towards the dead letter.
    """

    def __init__(self, seconds: float, reason: str = "", *, counts: bool = True):
        super().__init__(reason or f"retry in {seconds}s")
        self.seconds = seconds
        self.counts = counts


def backoff_seconds(attempts: int) -> float:
    """Exponential with full jitter, so a burst of failures does not retry in lockstep."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


def _claim_head(conversation_id) -> OutboxEvent | None:
    # One statement: the subquery names the oldest pending event and the lock takes that
    # one or nothing, so a head that another worker holds is never passed over for the
    # event behind it. The tenant and the conversation, which handlers act on, come along
    # in the same round trip, unlocked.
    head = OutboxEvent.objects.filter(conversation_id=conversation_id, status=OutboxEvent.Status.PENDING).order_by("id")
    return (
        OutboxEvent.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("tenant", "conversation")
        .filter(
            pk=Subquery(head.values("id")[:1]),
            status=OutboxEvent.Status.PENDING,
            available_at__lte=timezone.now(),
        )
        .first()
    )


def _handle(event: OutboxEvent) -> None:
    # Handlers keep each step Telegram confirmed (a topic, a post) in this transaction, so
    # a refusal later on must not roll them back; only a failed statement, which breaks
    # the transaction, goes back to this savepoint.
    savepoint = transaction.savepoint()
    try:
        with tracing.span(f"outbox {event.kind}", parent=event.traceparent, attempt=event.attempts + 1):
            for handler in handlers_for(event.kind):
                handler(event)
    except DatabaseError as exc:
        transaction.savepoint_rollback(savepoint)
        transaction.set_rollback(False)
        logger.exception("outbox event %s (%s) failed in the database", event.pk, event.kind)
        _schedule_retry(event, delay=backoff_seconds(event.attempts + 1), error=repr(exc))
    except RetryLater as exc:
        _schedule_retry(event, delay=exc.seconds, error=str(exc), counts=exc.counts)
    except Exception as exc:
        logger.exception("outbox event %s (%s) failed", event.pk, event.kind)
        _schedule_retry(event, delay=backoff_seconds(event.attempts + 1), error=repr(exc))
    else:
        event.status = OutboxEvent.Status.DONE
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "processed_at"])
        _count(event, "done")


def _count(event: OutboxEvent, outcome: str) -> None:
    OUTBOX_EVENTS.labels(tenant=tenant_label(event.tenant.slug), kind=event.kind, outcome=outcome).inc()


def _schedule_retry(event: OutboxEvent, *, delay: float, error: str, counts: bool = True) -> None:
    if counts:
        event.attempts += 1
    event.last_error = error[:2000]
    if event.attempts >= MAX_ATTEMPTS:
        event.status = OutboxEvent.Status.DEAD
        event.processed_at = timezone.now()
        logger.error("outbox event %s (%s) is dead after %s attempts", event.pk, event.kind, event.attempts)
        _count(event, "dead")
    else:
        event.available_at = timezone.now() + timedelta(seconds=delay)
        _count(event, "retry")
    event.save(update_fields=["attempts", "last_error", "status", "processed_at", "available_at"])


def drain_conversation(conversation_id) -> int:
    """Handles the conversation's due events in order; stops at the first one not due."""
    handled = 0
    while True:
        with transaction.atomic():
            event = _claim_head(conversation_id)
            if event is None:
                return handled
            _handle(event)
            handled += 1
            if event.status == OutboxEvent.Status.PENDING:
                return handled


@shared_task(acks_late=True)
def outbox_drain_conversation(*, tenant_id: int, conversation_id: str) -> int:
    # Cleared before draining: an event committed from now on queues a new drain, and
    # one committed before is seen by this one.
    cache.delete(wake_flag(conversation_id))
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenancy.tenant_context(tenant):
        return drain_conversation(conversation_id)


@shared_task(acks_late=True)
def outbox_sweep() -> int:
    """Catches everything the on-commit wake-ups missed: crashes, retries that came due."""
    with tenancy.cross_tenant("outbox sweep finds due events of every tenant"):
        due = list(
            OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING, available_at__lte=timezone.now())
            .order_by()
            .values_list("tenant_id", "conversation_id")
            .distinct()[:SWEEP_BATCH]
        )
    tenants = Tenant.objects.in_bulk({tenant_id for tenant_id, _ in due})
    handled = 0
    for tenant_id, conversation_id in due:
        with tenancy.tenant_context(tenants[tenant_id]):
            handled += drain_conversation(conversation_id)
    return handled
