"""The outbox: domain events recorded with the changes they report, and the drain that
hands them, with each conversation's messages, to the handlers of the apps that own the
side effects (telegram_bridge registers its handlers at startup), in order, with retries.

The message log is the outbox of messages: a conversation's OutboxCursor records how far
its messages were handed on, so storing a message writes nothing more. The other events
are OutboxEvent rows, each placed after the messages stored before it (its seq).

A worker holds a conversation by a lease (a short conditional update of its cursor),
never by a row lock or a transaction kept open while a handler calls out; each outcome
is recorded in a statement of its own that renews the lease. A handler that must wait
for room in a send budget parks the conversation in Redis: no row is written, wake-ups
queue nothing, and one delayed drain comes back when the wait is over.
"""

import functools
import logging
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import timedelta

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache, caches
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from chatorical import redis_urls, tenancy, tracing
from chatorical.batcher import per_event_loop
from chatorical.celery import app as celery_app
from chatorical.metrics import tenant_label
from conversations.metrics import OUTBOX_EVENTS
from conversations.models import Conversation, Message, OutboxCursor, OutboxEvent
from tenants.models import Tenant

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], None]
# Given a conversation and its next messages (by seq, none handed on yet), hands on a
# first run of them and returns the seq of the last one handed on.
MessagesHandler = Callable[[Conversation, list[Message]], int]

MAX_ATTEMPTS = 12
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 600.0
SWEEP_BATCH = 200
MESSAGES_PER_READ = 200
WAKE_FLAG_SECONDS = 10
PARKED = "parked"
DRAIN_TASK = "conversations.tasks.outbox_drain_conversation"

_handlers: dict[str, list[Handler]] = {}
_messages_handlers: list[MessagesHandler] = []
# The cursor whose lease the running drain holds.
_held: ContextVar[OutboxCursor | None] = ContextVar("outbox_lease", default=None)


class RetryLater(Exception):
    """Raised by a handler that knows how long to wait (e.g. Telegram's retry_after).

    `counts=False` is for waits that say nothing about the event itself (a right an admin
    must grant): those never push the event towards the dead letter.
    """

    def __init__(self, seconds: float, reason: str = "", *, counts: bool = True):
        super().__init__(reason or f"retry in {seconds}s")
        self.seconds = seconds
        self.counts = counts


class Park(RetryLater):
    """A wait for room in a shared budget (a support group's posts): it says nothing about
    the conversation's events, so none is written; the conversation is parked in Redis."""

    def __init__(self, seconds: float, reason: str = ""):
        super().__init__(seconds, reason, counts=False)


def outbox_handler(kind: str):
    """Registers a function that performs one kind of event's side effect."""

    def register(fn: Handler) -> Handler:
        _handlers.setdefault(kind, []).append(fn)
        return fn

    return register


def messages_handler(fn: MessagesHandler) -> MessagesHandler:
    """Registers the function that hands a conversation's messages on (MessagesHandler)."""
    _messages_handlers.append(fn)
    return fn


def handlers_for(kind: str) -> list[Handler]:
    return list(_handlers.get(kind, ()))


def backoff_seconds(attempts: int) -> float:
    """Exponential with full jitter, so a burst of failures does not retry in lockstep."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


# --- recording ---------------------------------------------------------------------------


def event_record(*, conversation: Conversation, kind: str, payload: dict | None = None) -> OutboxEvent:
    """Stores the event in the caller's transaction and wakes a worker once it commits. It
    is handled after the messages the conversation holds now (`conversation.last_seq`)."""
    event = OutboxEvent.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        kind=kind,
        seq=conversation.last_seq,
        payload=payload or {},
        available_at=timezone.now(),
        traceparent=tracing.traceparent(),
    )
    wake_on_commit(tenant_id=event.tenant_id, conversation_ids=[event.conversation_id])
    return event


def unattached_event_record(*, tenant_id: int, kind: str, payload: dict) -> OutboxEvent:
    """An event of no conversation (or of one being deleted), in the caller's transaction;
    the sweep or the caller's own wake-up delivers it."""
    return OutboxEvent.objects.create(
        tenant_id=tenant_id, conversation=None, kind=kind, payload=payload, available_at=timezone.now()
    )


# --- waking and parking ------------------------------------------------------------------


def wake_flag(conversation_id) -> str:
    return f"outbox:wake:{conversation_id}"


def wake_on_commit(*, tenant_id: int, conversation_ids) -> None:
    """Wakes a worker for each conversation once the caller's transaction commits."""
    conversation_ids = list(conversation_ids)
    if conversation_ids:
        transaction.on_commit(lambda: _wake_workers(tenant_id, conversation_ids))


async def wake(*, tenant_id: int, conversation_ids) -> None:
    """_wake_workers for a caller on an event loop whose statement has already committed
    (the sockets' messages): the flags are set from the loop, and only a drain to queue
    goes to a thread, as Celery's client blocks. A conversation this process saw parked
    costs no round trip until its park ends (_parked_until)."""
    now = time.monotonic()
    conversation_ids = [c for c in conversation_ids if _parked_until.get(c, 0) <= now]
    if not conversation_ids:
        return
    keys = _cache_of_the_process()
    if not hasattr(keys, "client"):  # the in-process cache, and tasks, of an embedded run
        await sync_to_async(_wake_workers, thread_sensitive=False)(tenant_id, conversation_ids)
        return
    try:
        async with _loop_cache_redis().pipeline(transaction=False) as pipeline:
            for conversation_id in conversation_ids:
                key = keys.make_key(wake_flag(conversation_id))
                pipeline.set(key, 1, nx=True, ex=WAKE_FLAG_SECONDS).pttl(key)
            replies = await pipeline.execute()
    except Exception:
        logger.exception("could not wake a worker for conversations %s", conversation_ids)
        return
    flagged = []
    for conversation_id, was_set, ttl_ms in zip(conversation_ids, replies[::2], replies[1::2], strict=True):
        if was_set:
            flagged.append(conversation_id)
        else:
            _parked_until_learn(conversation_id, now=now, ttl_ms=ttl_ms)
    if flagged:
        await sync_to_async(_drains_queue, thread_sensitive=False)(tenant_id, flagged)


# Conversations this process saw parked, and until when (monotonic seconds). Under the
# group's send budget nearly every conversation is parked for minutes, and its messages
# need no wake-up: the drain that ends the park reads every message stored before it runs.
# A park's flag outlives it by WAKE_FLAG_SECONDS (_park; one more second for its rounding
# up), so the TTL beyond that is the park still to come: a plain flag never has any. At
# most PARK_REMEMBERED_SECONDS of it is taken on trust, so a park that Redis lost (with
# its delayed drain: a restart) holds back no wake-up for longer.
_parked_until: dict = {}
PARK_REMEMBERED_SECONDS = WAKE_FLAG_SECONDS
_PARKED_REMEMBERED_MAX = 100_000


def _parked_until_learn(conversation_id, *, now: float, ttl_ms: int) -> None:
    park_left = min(ttl_ms / 1000 - WAKE_FLAG_SECONDS - 1, PARK_REMEMBERED_SECONDS)
    if park_left <= 0:
        _parked_until.pop(conversation_id, None)
        return
    if len(_parked_until) >= _PARKED_REMEMBERED_MAX:
        for passed in [c for c, until in _parked_until.items() if until <= now]:
            del _parked_until[passed]
    if len(_parked_until) < _PARKED_REMEMBERED_MAX:
        _parked_until[conversation_id] = now + park_left


@functools.cache
def _cache_of_the_process():
    """The cache, for its kind and key names: `cache` is a new object in each asyncio task."""
    return caches.create_connection("default")


# The cache's Redis, for wake: a client of each event loop's own (asyncio connections
# belong to the loop that made them). The same server, database and key names as the cache.
_loop_cache_redis = per_event_loop(
    lambda: aioredis.Redis(
        connection_pool=redis_urls.async_pool(
            settings.REDIS_URL, db=settings.REDIS_DB, socket_connect_timeout=2, socket_timeout=2
        )
    )
)


def _drain_queue(tenant_id: int, conversation_id, *, countdown: float | None = None) -> None:
    """Queues a drain task, by name: the task module imports this one. Without a broker
    (an embedded run) tasks run in-process, as the task would."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        drain_task_run(tenant_id=tenant_id, conversation_id=str(conversation_id))
        return
    celery_app.send_task(
        DRAIN_TASK, kwargs={"tenant_id": tenant_id, "conversation_id": str(conversation_id)}, countdown=countdown
    )


def drain_task_run(*, tenant_id: int, conversation_id: str) -> int:
    """The drain task's work: the wake flag goes first, so an event recorded from now on
    queues a new drain, and one recorded before is seen by this one."""
    cache.delete(wake_flag(conversation_id))
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenancy.tenant_context(tenant):
        return drain_conversation(conversation_id)


def _wake_workers(tenant_id: int, conversation_ids: list) -> None:
    """Queues a drain of each conversation unless one is queued already or the conversation
    is parked: a burst of events costs one task, not one each. The flag expires, and the
    sweep covers a lost task."""
    try:
        flagged = _wake_flags_set(conversation_ids)
    except Exception:
        # The events are stored; the sweep delivers them. The write that woke us must not fail.
        logger.exception("could not wake a worker for conversations %s", conversation_ids)
        return
    _drains_queue(tenant_id, flagged)


def _drains_queue(tenant_id: int, flagged: list) -> None:
    """Queues a drain of each conversation whose wake flag was just set."""
    try:
        for conversation_id in flagged:
            _drain_queue(tenant_id, conversation_id)
    except Exception:
        logger.exception("could not queue a drain of conversations %s", flagged)
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


def _park(*, tenant_id: int, conversation_id, seconds: float) -> None:
    """Nothing of the conversation is touched for `seconds`: its wake flag stays set (so new
    events queue no task, and the sweep passes it over) and one delayed drain comes back."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # tasks run in-process (embedded): the next wake-up looks again
    seconds = max(seconds, 0.05)
    try:
        cache.set(wake_flag(conversation_id), PARKED, timeout=math.ceil(seconds) + WAKE_FLAG_SECONDS)
        _drain_queue(tenant_id, conversation_id, countdown=seconds)
    except Exception:
        logger.warning("could not park conversation %s; the sweep comes back to it", conversation_id)


# --- the drain ---------------------------------------------------------------------------


def drain_conversation(conversation_id) -> int:
    """Hands the conversation's due events and messages on, in order; stops at the first
    that is not due, or parks the conversation. Returns how many steps it handled.
    `None` drains the tenant's events of no conversation."""
    if conversation_id is None:
        return _drain_unattached()
    cursor = _lease_take(conversation_id)
    if cursor is None:
        return 0  # another worker holds it, or the conversation is gone
    handled, held = 0, _held.set(cursor)
    try:
        while (step := _step(cursor)) is not None:
            handled += step
    finally:
        _held.reset(held)
        OutboxCursor.objects.filter(pk=cursor.pk, leased_until=cursor.leased_until).update(leased_until=None)
    return handled


def lease_keep() -> None:
    """Handlers call it before each call out: when half of the drain's lease has run out
    (a slow step of several calls), it is renewed, so no other worker takes the
    conversation over while this one still acts for it."""
    cursor = _held.get()
    if cursor is None or cursor.leased_until - timezone.now() > timedelta(seconds=_lease_seconds() / 2):
        return
    held_until = cursor.leased_until
    if not OutboxCursor.objects.filter(pk=cursor.pk, leased_until=held_until).update(**_lease_renewed(cursor)):
        logger.warning("the lease of conversation %s ran out during a step", cursor.pk)


def _lease_seconds() -> float:
    return settings.OUTBOX_LEASE_SECONDS


def _lease_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _lease_take(conversation_id) -> OutboxCursor | None:
    now, holder = timezone.now(), _lease_holder()
    until = now + timedelta(seconds=_lease_seconds())
    free = Q(leased_until__isnull=True) | Q(leased_until__lt=now) | Q(leased_by=holder)
    if not OutboxCursor.objects.filter(free, pk=conversation_id).update(leased_until=until, leased_by=holder):
        try:
            with transaction.atomic():
                OutboxCursor.objects.create(
                    conversation_id=conversation_id,
                    tenant_id=tenancy.require_tenant().id,
                    leased_until=until,
                    leased_by=holder,
                )
        except IntegrityError:
            return None  # leased by another worker, or no such conversation
    cursor = OutboxCursor.objects.select_related("conversation__tenant").filter(pk=conversation_id).first()
    if cursor is not None:
        cursor.leased_until = until
    return cursor


def _lease_renewed(cursor: OutboxCursor) -> dict:
    cursor.leased_until = timezone.now() + timedelta(seconds=_lease_seconds())
    return {"leased_until": cursor.leased_until}


def _step(cursor: OutboxCursor) -> int | None:
    """Hands on the conversation's next event or run of messages; None when it stops."""
    conversation = cursor.conversation
    # The event comes with the conversation as it is now: its handler acts on the latest.
    head = (
        OutboxEvent.objects.filter(conversation_id=conversation.pk, status=OutboxEvent.Status.PENDING)
        .select_related("conversation")
        .order_by("id")
        .first()
    )
    now = timezone.now()
    if head is not None and head.seq <= cursor.delivered_seq:
        if head.available_at > now:
            _park(tenant_id=conversation.tenant_id, conversation_id=conversation.pk, seconds=_until(head.available_at))
            return None
        head.tenant = head.conversation.tenant = conversation.tenant
        return 1 if _event_handle(cursor, head) else None
    if cursor.available_at is not None and cursor.available_at > now:
        _park(tenant_id=conversation.tenant_id, conversation_id=conversation.pk, seconds=_until(cursor.available_at))
        return None
    messages = Message.objects.filter(conversation_id=conversation.pk, seq__gt=cursor.delivered_seq)
    if head is not None:
        messages = messages.filter(seq__lte=head.seq)
    messages = list(messages.order_by("seq")[:MESSAGES_PER_READ])
    if not messages:
        if head is None:
            return None
        # The messages before the event are gone (purged): it is next.
        _cursor_record(cursor, delivered_seq=head.seq)
        return 0
    return 1 if _messages_hand_on(cursor, messages) else None


def _until(moment) -> float:
    return (moment - timezone.now()).total_seconds()


def _messages_hand_on(cursor: OutboxCursor, messages: list[Message]) -> bool:
    """Returns whether the drain goes on."""
    conversation = cursor.conversation
    delivered = messages[-1].seq
    try:
        with tracing.span(f"outbox {OutboxEvent.Kind.MESSAGE_ADDED}", parent=messages[0].traceparent):
            for handler in _messages_handlers:
                delivered = handler(conversation, messages)
    except Park as wait:
        _park(tenant_id=conversation.tenant_id, conversation_id=conversation.pk, seconds=wait.seconds)
        return False
    except RetryLater as wait:
        return _cursor_retry(cursor, messages[0], delay=wait.seconds, error=str(wait), counts=wait.counts)
    except Exception as exc:
        logger.exception("messages of conversation %s from seq %s failed", conversation.pk, messages[0].seq)
        return _cursor_retry(cursor, messages[0], delay=backoff_seconds(cursor.attempts + 1), error=repr(exc))
    handed_on = sum(1 for message in messages if message.seq <= delivered)
    _cursor_record(cursor, delivered_seq=delivered)
    _count(conversation.tenant, OutboxEvent.Kind.MESSAGE_ADDED, "done", handed_on)
    return True


def _cursor_record(cursor: OutboxCursor, *, delivered_seq: int) -> None:
    cursor.delivered_seq, cursor.attempts, cursor.available_at = delivered_seq, 0, None
    OutboxCursor.objects.filter(pk=cursor.pk).update(
        delivered_seq=delivered_seq, attempts=0, available_at=None, last_error="", **_lease_renewed(cursor)
    )


def _cursor_retry(cursor: OutboxCursor, first: Message, *, delay: float, error: str, counts: bool = True) -> bool:
    """The messages wait; after MAX_ATTEMPTS failures the first of them is passed over, as a
    dead event is, so the ones behind it go on. Returns whether the drain goes on."""
    tenant = cursor.conversation.tenant
    attempts = cursor.attempts + (1 if counts else 0)
    if attempts >= MAX_ATTEMPTS:
        logger.error("message %s of conversation %s is dead after %s attempts", first.seq, cursor.pk, attempts)
        _count(tenant, OutboxEvent.Kind.MESSAGE_ADDED, "dead")
        _cursor_record(cursor, delivered_seq=first.seq)
        return True
    cursor.attempts, cursor.available_at = attempts, timezone.now() + timedelta(seconds=delay)
    OutboxCursor.objects.filter(pk=cursor.pk).update(
        attempts=attempts, available_at=cursor.available_at, last_error=error[:2000]
    )
    _count(tenant, OutboxEvent.Kind.MESSAGE_ADDED, "retry")
    return False


def _event_handle(cursor: OutboxCursor | None, event: OutboxEvent) -> bool:
    """Runs the event's handlers, outside any transaction, and records the outcome; returns
    whether the event is done with (handled, or dead)."""
    try:
        with tracing.span(f"outbox {event.kind}", parent=event.traceparent, attempt=event.attempts + 1):
            for handler in handlers_for(event.kind):
                handler(event)
    except Park as wait:
        if event.conversation_id is None:
            _event_retry(event, delay=wait.seconds, error=str(wait), counts=False)
        else:
            _park(tenant_id=event.tenant_id, conversation_id=event.conversation_id, seconds=wait.seconds)
        return False
    except RetryLater as wait:
        _event_retry(event, delay=wait.seconds, error=str(wait), counts=wait.counts)
    except Exception as exc:
        logger.exception("outbox event %s (%s) failed", event.pk, event.kind)
        _event_retry(event, delay=backoff_seconds(event.attempts + 1), error=repr(exc))
    else:
        event.status = OutboxEvent.Status.DONE
        event.processed_at = timezone.now()
        _event_save(cursor, event, ["status", "processed_at"])
        _count(event.tenant, event.kind, "done")
    return event.status != OutboxEvent.Status.PENDING


def _event_retry(event: OutboxEvent, *, delay: float, error: str, counts: bool = True) -> None:
    if counts:
        event.attempts += 1
    event.last_error = error[:2000]
    if event.attempts >= MAX_ATTEMPTS:
        event.status = OutboxEvent.Status.DEAD
        event.processed_at = timezone.now()
        logger.error("outbox event %s (%s) is dead after %s attempts", event.pk, event.kind, event.attempts)
        _count(event.tenant, event.kind, "dead")
    else:
        event.available_at = timezone.now() + timedelta(seconds=delay)
        _count(event.tenant, event.kind, "retry")
    _event_save(None, event, ["attempts", "last_error", "status", "processed_at", "available_at"])


def _event_save(cursor: OutboxCursor | None, event: OutboxEvent, fields: list[str]) -> None:
    """The event's outcome, and the renewed lease, in one short transaction."""
    with transaction.atomic():
        OutboxEvent.objects.filter(pk=event.pk).update(**{field: getattr(event, field) for field in fields})
        if cursor is not None:
            OutboxCursor.objects.filter(pk=cursor.pk).update(**_lease_renewed(cursor))


def _count(tenant, kind: str, outcome: str, amount: int = 1) -> None:
    OUTBOX_EVENTS.labels(tenant=tenant_label(tenant.slug), kind=kind, outcome=outcome).inc(amount)


def _drain_unattached() -> int:
    """The tenant's due events of no conversation, each leased on its own (its available_at
    moves past the lease), as their order does not matter."""
    handled = 0
    while True:
        now = timezone.now()
        due = OutboxEvent.objects.filter(
            conversation=None, status=OutboxEvent.Status.PENDING, available_at__lte=now
        ).order_by("id")
        event = due.select_related("tenant").first()
        if event is None:
            return handled
        leased = OutboxEvent.objects.filter(pk=event.pk, status=OutboxEvent.Status.PENDING, available_at__lte=now)
        if not leased.update(available_at=now + timedelta(seconds=_lease_seconds())):
            continue  # another worker took it
        _event_handle(None, event)
        handled += 1


def pending_state(conversation: Conversation) -> str | None:
    """What is left of the conversation's outbox: None when everything was handed on,
    "waiting" when what is left waits for a retry, "due" otherwise."""
    conversation.refresh_from_db(fields=["last_seq"])
    cursor = OutboxCursor.objects.filter(pk=conversation.pk).first()
    now = timezone.now()
    events = OutboxEvent.objects.filter(conversation_id=conversation.pk, status=OutboxEvent.Status.PENDING)
    messages_left = conversation.last_seq > (cursor.delivered_seq if cursor else 0)
    if not messages_left and not events.exists():
        return None
    messages_waiting = cursor is not None and cursor.available_at is not None and cursor.available_at > now
    if (not messages_left or messages_waiting) and not events.filter(available_at__lte=now).exists():
        return "waiting"
    return "due"


# --- the sweep ---------------------------------------------------------------------------


def sweep() -> int:
    """Catches everything the wake-ups missed (crashes, a Redis flush, retries that came
    due): conversations with due events or messages not handed on, unless parked."""
    now = timezone.now()
    with tenancy.cross_tenant("outbox sweep finds due events and messages of every tenant"):
        due = set(
            OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING, available_at__lte=now)
            .order_by()
            .values_list("tenant_id", "conversation_id")
            .distinct()[:SWEEP_BATCH]
        )
        # Messages wait only in conversations that are open, or whose close is pending.
        undelivered = (
            Conversation.objects.exclude(status=Conversation.Status.CLOSED)
            .filter(
                Q(outbox_cursor__isnull=True, last_seq__gt=0)
                | Q(last_seq__gt=F("outbox_cursor__delivered_seq"))
                & (Q(outbox_cursor__available_at__isnull=True) | Q(outbox_cursor__available_at__lte=now))
                & (Q(outbox_cursor__leased_until__isnull=True) | Q(outbox_cursor__leased_until__lt=now))
            )
            .order_by()
            .values_list("tenant_id", "id")[:SWEEP_BATCH]
        )
        due.update(undelivered)
    due = _not_parked(sorted(due, key=lambda item: (item[0], str(item[1]))))
    tenants = Tenant.objects.in_bulk({tenant_id for tenant_id, _ in due})
    handled = 0
    for tenant_id, conversation_id in due:
        with tenancy.tenant_context(tenants[tenant_id]):
            handled += drain_conversation(conversation_id)
    return handled


def _not_parked(due: list[tuple]) -> list[tuple]:
    attached = [conversation_id for _, conversation_id in due if conversation_id is not None]
    if not attached:
        return due
    flags = cache.get_many([wake_flag(conversation_id) for conversation_id in attached])
    return [
        (tenant_id, conversation_id)
        for tenant_id, conversation_id in due
        if conversation_id is None or flags.get(wake_flag(conversation_id)) != PARKED
    ]
