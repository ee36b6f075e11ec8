"""The outbox drain: order of events and messages, retries with backoff, the dead letter,
one worker at a time per conversation (a lease, never a lock held across a handler)."""

import json
import threading
import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from chatorical import tenancy
from conversations import outbox
from conversations.models import OutboxCursor, OutboxEvent
from conversations.outbox import MAX_ATTEMPTS, RetryLater, backoff_seconds, drain_conversation
from conversations.tasks import outbox_sweep
from conversations.tests.factories import conversation_for, message_for

Kind = OutboxEvent.Kind


@pytest.fixture
def handled(monkeypatch):
    """Records what a test handler saw; the handler registries are restored after the test."""
    monkeypatch.setattr(outbox, "_handlers", {})
    monkeypatch.setattr(outbox, "_messages_handlers", [])
    seen = []
    return seen


def one_at_a_time(handled):
    """A messages handler that hands on one message per call, as a post of each would."""

    def hand_on(conversation, messages):
        handled.append(messages[0].text)
        return messages[0].seq

    return hand_on


def hint(conversation, text):
    from conversations.outbox import event_record

    conversation.refresh_from_db()
    with tenancy.tenant_context(conversation.tenant):
        return event_record(conversation=conversation, kind=Kind.AGENT_HINT, payload={"text": text})


def test_events_and_messages_are_handed_on_in_order(in_default_tenant, handled):
    outbox.messages_handler(one_at_a_time(handled))
    outbox.outbox_handler(Kind.AGENT_HINT)(lambda event: handled.append(event.payload["text"]))
    conversation = conversation_for(in_default_tenant)
    message_for(conversation, text="m0")
    message_for(conversation, text="m1")
    hint(conversation, "h0")
    message_for(conversation, text="m2")
    assert drain_conversation(conversation.pk) == 5
    assert handled == ["m0", "m1", "h0", "m2"]
    assert not OutboxEvent.objects.exclude(status="done").exists()
    assert OutboxCursor.objects.get(pk=conversation.pk).delivered_seq == 3
    assert drain_conversation(conversation.pk) == 0, "nothing is handed on twice"


def test_a_messages_handler_gets_the_whole_backlog_in_one_call(in_default_tenant, handled):
    outbox.messages_handler(
        lambda conversation, messages: handled.append([m.text for m in messages]) or messages[-1].seq
    )
    conversation = conversation_for(in_default_tenant)
    for i in range(5):
        message_for(conversation, text=f"m{i}")
    assert drain_conversation(conversation.pk) == 2
    assert handled == [[f"m{i}" for i in range(5)]]


def test_a_failure_backs_off_and_holds_back_later_events(in_default_tenant, handled):
    def flaky(conversation, messages):
        if not handled:
            handled.append("failed")
            raise RuntimeError("telegram is down")
        handled.append(messages[0].text)
        return messages[0].seq

    outbox.messages_handler(flaky)
    outbox.outbox_handler(Kind.AGENT_HINT)(lambda event: handled.append(event.payload["text"]))
    conversation = conversation_for(in_default_tenant)
    message_for(conversation, text="first")
    hint(conversation, "after the first")
    drain_conversation(conversation.pk)
    cursor = OutboxCursor.objects.get(pk=conversation.pk)
    assert (cursor.delivered_seq, cursor.attempts, "RuntimeError" in cursor.last_error) == (0, 1, True)
    assert cursor.available_at > timezone.now()
    assert OutboxEvent.objects.get(kind=Kind.AGENT_HINT).status == "pending", "a later event waits"
    OutboxCursor.objects.filter(pk=conversation.pk).update(available_at=timezone.now())
    drain_conversation(conversation.pk)
    assert handled == ["failed", "first", "after the first"]


def test_retry_later_without_counting(in_default_tenant, handled):
    def budget_used_up(event):
        raise RetryLater(30, "budget", counts=False)

    outbox.outbox_handler(Kind.CONVERSATION_STARTED)(budget_used_up)
    conversation = conversation_for(in_default_tenant)
    drain_conversation(conversation.pk)
    event = OutboxEvent.objects.get()
    assert event.attempts == 0
    assert 29 <= (event.available_at - timezone.now()).total_seconds() <= 30


def test_dead_letter_after_max_attempts_lets_later_events_through(in_default_tenant, handled):
    def always_fails(event):
        raise RuntimeError("poison")

    outbox.outbox_handler(Kind.CONVERSATION_STARTED)(always_fails)
    outbox.outbox_handler(Kind.AGENT_HINT)(lambda event: handled.append(event.pk))
    conversation = conversation_for(in_default_tenant)
    hint(conversation, "behind a poison event")
    for _ in range(MAX_ATTEMPTS):
        OutboxEvent.objects.filter(status="pending").update(available_at=timezone.now())
        drain_conversation(conversation.pk)
    started = OutboxEvent.objects.get(kind=Kind.CONVERSATION_STARTED)
    assert (started.status, started.attempts) == ("dead", MAX_ATTEMPTS)
    assert len(handled) == 1


def test_a_message_that_always_fails_is_passed_over_after_max_attempts(in_default_tenant, handled):
    def poison_first(conversation, messages):
        if messages[0].text == "poison":
            raise RuntimeError("poison")
        handled.append(messages[0].text)
        return messages[0].seq

    outbox.messages_handler(poison_first)
    conversation = conversation_for(in_default_tenant)
    message_for(conversation, text="poison")
    message_for(conversation, text="fine")
    for _ in range(MAX_ATTEMPTS):
        OutboxCursor.objects.filter(pk=conversation.pk).update(available_at=None)
        drain_conversation(conversation.pk)
    assert handled == ["fine"]
    assert OutboxCursor.objects.get(pk=conversation.pk).delivered_seq == 2


def test_backoff_grows_and_is_capped():
    assert backoff_seconds(1) <= 1
    assert 32 <= backoff_seconds(7) <= 64
    assert backoff_seconds(50) <= 600


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_handle_one_conversation_at_once(default_tenant, monkeypatch):
    monkeypatch.setattr(outbox, "_handlers", {})
    monkeypatch.setattr(outbox, "_messages_handlers", [])
    active, overlaps, order = [], [], []

    def slow(conversation, messages):
        if active:
            overlaps.append(messages[0].seq)
        active.append(messages[0].seq)
        time.sleep(0.05)
        order.append(messages[0].seq)
        active.pop()
        return messages[0].seq

    outbox.messages_handler(slow)
    conversation = conversation_for(default_tenant)
    for i in range(6):
        message_for(conversation, text=f"m{i}")

    def worker():
        try:
            with tenancy.tenant_context(default_tenant):
                drain_conversation(conversation.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with tenancy.tenant_context(default_tenant):
        assert OutboxCursor.objects.get(pk=conversation.pk).delivered_seq == 6
    assert overlaps == []
    assert order == [1, 2, 3, 4, 5, 6]


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_a_handler_runs(default_tenant, monkeypatch):
    """The worker holds a lease, not a transaction or a row lock, while a handler calls out:
    the conversation's row takes a visitor's message meanwhile without waiting."""
    monkeypatch.setattr(outbox, "_handlers", {})
    monkeypatch.setattr(outbox, "_messages_handlers", [])
    seen = []

    def observing(conversation, messages):
        seen.append(connection.in_atomic_block)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND mode = 'RowExclusiveLock'")
            seen.append(cursor.fetchone()[0])
        if len(seen) == 3:
            with tenancy.tenant_context(default_tenant):
                message_for(conversation, text="written while the handler runs")
        return messages[-1].seq

    outbox.messages_handler(observing)
    outbox.outbox_handler(Kind.CONVERSATION_STARTED)(lambda event: seen.append(connection.in_atomic_block))
    conversation = conversation_for(default_tenant)
    message_for(conversation, text="first")
    with tenancy.tenant_context(default_tenant):
        drain_conversation(conversation.pk)
        assert OutboxCursor.objects.get(pk=conversation.pk).delivered_seq == 2
    assert seen == [False, False, 0, False, 0]


@pytest.mark.django_db(transaction=True)
def test_a_conversation_leased_by_another_worker_is_left_to_it(default_tenant, handled):
    """And one whose lease this worker kept, as a drain broke off (the database went away),
    is taken back at once."""
    outbox.outbox_handler(Kind.CONVERSATION_STARTED)(lambda event: handled.append(event.pk))
    conversation = conversation_for(default_tenant)
    with tenancy.tenant_context(default_tenant):
        OutboxCursor.objects.create(
            conversation=conversation,
            leased_until=timezone.now() + timezone.timedelta(seconds=30),
            leased_by="elsewhere:1:1",
        )
        assert drain_conversation(conversation.pk) == 0
        assert handled == [], "the lease holder goes on alone"
        OutboxCursor.objects.filter(pk=conversation.pk).update(leased_until=timezone.now())
        assert drain_conversation(conversation.pk) == 1, "a lapsed lease (a killed worker's) is taken over"
        message_for(conversation)
        OutboxCursor.objects.filter(pk=conversation.pk).update(
            leased_until=timezone.now() + timezone.timedelta(seconds=30), leased_by=outbox._lease_holder()
        )
        outbox.messages_handler(lambda conversation, messages: handled.append("again") or messages[-1].seq)
        assert drain_conversation(conversation.pk) == 1, "its own lease left behind is taken back"


def test_sweep_finds_due_events_of_every_tenant(default_tenant, other_tenant, handled):
    outbox.outbox_handler(Kind.CONVERSATION_STARTED)(lambda event: handled.append(event.tenant_id))
    conversation_for(default_tenant)
    conversation_for(other_tenant)
    assert outbox_sweep.run() == 2
    assert sorted(handled) == sorted([default_tenant.id, other_tenant.id])


def test_sweep_finds_messages_not_handed_on_and_passes_parked_conversations_over(default_tenant, handled):
    outbox.messages_handler(lambda conversation, messages: handled.append(conversation.pk) or messages[-1].seq)
    waiting, parked = conversation_for(default_tenant), conversation_for(default_tenant)
    for conversation in (waiting, parked):
        message_for(conversation)
    cache.set(outbox.wake_flag(parked.pk), outbox.PARKED, timeout=30)
    try:
        outbox_sweep.run()
    finally:
        cache.delete(outbox.wake_flag(parked.pk))
    assert handled == [waiting.pk]
    outbox_sweep.run()
    assert handled == [waiting.pk, parked.pk]


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_events_queues_one_drain_task(default_tenant, settings):
    import redis

    broker = redis.Redis.from_url(settings.REDIS_URL)
    queue = f"{settings.REDIS_KEY_PREFIX}:celery:celery"
    broker.delete(queue)
    conversation = conversation_for(default_tenant)
    for i in range(5):
        message_for(conversation, text=f"m{i}")
    assert broker.llen(queue) == 1
    # A worker that starts draining clears the flag, so the next event queues a new drain.
    from conversations.tasks import outbox_drain_conversation

    outbox_drain_conversation.run(tenant_id=default_tenant.id, conversation_id=str(conversation.pk))
    message_for(conversation, text="after the drain")
    assert broker.llen(queue) == 2


@pytest.mark.django_db(transaction=True)
def test_a_parked_conversation_queues_no_work_until_its_delayed_drain(default_tenant, handled, settings):
    """A handler that must wait for a shared budget parks the conversation: nothing is
    written, new messages queue no task, and one delayed drain is queued."""
    import redis

    broker = redis.Redis.from_url(settings.REDIS_URL)
    queue = f"{settings.REDIS_KEY_PREFIX}:celery:celery"

    def budget_spent(conversation, messages):
        handled.append(len(messages))
        raise outbox.Park(30, "budget")

    outbox.messages_handler(budget_spent)
    conversation = conversation_for(default_tenant)
    message_for(conversation, text="first")
    broker.delete(queue)
    with tenancy.tenant_context(default_tenant):
        assert drain_conversation(conversation.pk) == 1, "the start, then the messages park"
        cursor = OutboxCursor.objects.get(pk=conversation.pk)
    assert (cursor.delivered_seq, cursor.attempts, cursor.available_at) == (0, 0, None)
    assert broker.llen(queue) == 1, "one delayed drain"
    [delayed] = [json.loads(task) for task in broker.lrange(queue, 0, -1)]
    assert delayed["headers"]["eta"] is not None
    for i in range(5):
        message_for(conversation, text=f"while parked {i}")
    assert broker.llen(queue) == 1, "new messages of a parked conversation queue no drain"
    assert outbox_sweep.run() == 0 and handled == [1], "the sweep passes it over"
    cache.delete(outbox.wake_flag(conversation.pk))


@pytest.mark.django_db(transaction=True)
def test_a_database_error_in_a_handler_is_retried_and_keeps_the_drain_usable(default_tenant, handled):
    def broken_sql(event):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    outbox.outbox_handler(Kind.CONVERSATION_STARTED)(broken_sql)
    conversation = conversation_for(default_tenant)
    with tenancy.tenant_context(default_tenant):
        drain_conversation(conversation.pk)
        event = OutboxEvent.objects.get()
    assert (event.status, event.attempts) == ("pending", 1)
    assert "no_such_table" in event.last_error


@pytest.mark.django_db(transaction=True)
def test_a_slow_step_keeps_its_lease(default_tenant, monkeypatch, settings):
    """A step of several slow calls renews the lease once half of it ran out, so another
    worker does not take the conversation over meanwhile."""
    settings.OUTBOX_LEASE_SECONDS = 0.4
    monkeypatch.setattr(outbox, "_handlers", {})
    monkeypatch.setattr(outbox, "_messages_handlers", [])
    taken_over, calls = [], []

    def slow_calls(conversation, messages):
        calls.append(messages[0].seq)
        if len(calls) > 1:
            return messages[-1].seq  # the second drain got in
        for _ in range(3):
            outbox.lease_keep()  # as the bridge does before each call
            time.sleep(0.15)
        other_worker = threading.Thread(target=other_drain, args=(conversation,))
        other_worker.start()
        other_worker.join()
        return messages[-1].seq

    def other_drain(conversation):
        try:
            with tenancy.tenant_context(default_tenant):
                taken_over.append(drain_conversation(conversation.pk))
        finally:
            connection.close()

    outbox.messages_handler(slow_calls)
    conversation = conversation_for(default_tenant)
    message_for(conversation)
    with tenancy.tenant_context(default_tenant):
        drain_conversation(conversation.pk)
    assert taken_over == [0] and len(calls) == 1, "the second drain found the lease held"
