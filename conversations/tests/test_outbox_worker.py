"""The outbox drain: order, retries with backoff, the dead letter, safe claiming."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from chatorical import tenancy
from conversations import outbox
from conversations.models import OutboxEvent
from conversations.tasks import MAX_ATTEMPTS, RetryLater, backoff_seconds, drain_conversation, outbox_sweep
from conversations.tests.factories import conversation_for, message_for

Kind = OutboxEvent.Kind


@pytest.fixture
def handled(monkeypatch):
    """Records what a test handler saw; the handler registry is restored after the test."""
    monkeypatch.setattr(outbox, "_handlers", {})
    seen = []
    return seen


def test_events_are_handled_in_order_and_marked_done(in_default_tenant, handled):
    outbox.outbox_handler(Kind.MESSAGE_ADDED)(lambda event: handled.append(event.payload["message_id"]))
    conversation = conversation_for(in_default_tenant)
    ids = [message_for(conversation, text=f"m{i}").id for i in range(5)]
    assert drain_conversation(conversation.pk) == 6
    assert handled == ids
    assert not OutboxEvent.objects.exclude(status="done").exists()


def test_a_failure_backs_off_and_holds_back_later_events(in_default_tenant, handled):
    def flaky(event):
        if not handled:
            handled.append("failed")
            raise RuntimeError("telegram is down")
        handled.append(event.pk)

    outbox.outbox_handler(Kind.MESSAGE_ADDED)(flaky)
    conversation = conversation_for(in_default_tenant)
    message_for(conversation, text="first")
    message_for(conversation, text="second")
    drain_conversation(conversation.pk)
    first, second = OutboxEvent.objects.filter(kind=Kind.MESSAGE_ADDED).order_by("id")
    assert (first.status, first.attempts, "RuntimeError" in first.last_error) == ("pending", 1, True)
    assert first.available_at > timezone.now()
    assert second.status == "pending", "a later event waits for the earlier one"
    OutboxEvent.objects.filter(pk=first.pk).update(available_at=timezone.now())
    drain_conversation(conversation.pk)
    assert handled == ["failed", first.pk, second.pk]


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
    outbox.outbox_handler(Kind.MESSAGE_ADDED)(lambda event: handled.append(event.pk))
    conversation = conversation_for(in_default_tenant)
    message_for(conversation)
    for _ in range(MAX_ATTEMPTS):
        OutboxEvent.objects.filter(status="pending").update(available_at=timezone.now())
        drain_conversation(conversation.pk)
    started = OutboxEvent.objects.get(kind=Kind.CONVERSATION_STARTED)
    assert (started.status, started.attempts) == ("dead", MAX_ATTEMPTS)
    assert len(handled) == 1


def test_backoff_grows_and_is_capped():
    assert backoff_seconds(1) <= 1
    assert 32 <= backoff_seconds(7) <= 64
    assert backoff_seconds(50) <= 600


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_handle_one_conversation_at_once(default_tenant, monkeypatch):
    monkeypatch.setattr(outbox, "_handlers", {})
    active, overlaps, order = [], [], []

    def slow(event):
        if active:
            overlaps.append(event.pk)
        active.append(event.pk)
        time.sleep(0.05)
        order.append(event.pk)
        active.pop()

    outbox.outbox_handler(Kind.MESSAGE_ADDED)(slow)
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
        expected = list(OutboxEvent.objects.filter(kind=Kind.MESSAGE_ADDED).order_by("id").values_list("pk", flat=True))
        assert not OutboxEvent.objects.filter(status="pending").exists()
    assert overlaps == []
    assert order == expected


@pytest.mark.django_db(transaction=True)
def test_a_head_held_by_another_worker_is_not_passed_over(default_tenant, handled):
    outbox.outbox_handler(Kind.MESSAGE_ADDED)(lambda event: handled.append(event.pk))
    conversation = conversation_for(default_tenant)
    message_for(conversation, text="behind the head")
    held, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with tenancy.tenant_context(default_tenant), transaction.atomic():
                OutboxEvent.objects.select_for_update().get(kind=Kind.CONVERSATION_STARTED)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert held.wait(10)
        with tenancy.tenant_context(default_tenant):
            assert drain_conversation(conversation.pk) == 0
    finally:
        release.set()
        thread.join()
    assert handled == [], "the free event behind a held head waits for it"


def test_sweep_finds_due_events_of_every_tenant(default_tenant, other_tenant, handled):
    outbox.outbox_handler(Kind.CONVERSATION_STARTED)(lambda event: handled.append(event.tenant_id))
    conversation_for(default_tenant)
    conversation_for(other_tenant)
    assert outbox_sweep.run() == 2
    assert sorted(handled) == sorted([default_tenant.id, other_tenant.id])


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


def test_a_database_error_in_a_handler_is_retried_and_keeps_the_drain_usable(in_default_tenant, handled):
    from django.db import connection

    def broken_sql(event):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    outbox.outbox_handler(Kind.CONVERSATION_STARTED)(broken_sql)
    conversation = conversation_for(in_default_tenant)
    drain_conversation(conversation.pk)
    event = OutboxEvent.objects.get()
    assert (event.status, event.attempts) == ("pending", 1)
    assert "no_such_table" in event.last_error
