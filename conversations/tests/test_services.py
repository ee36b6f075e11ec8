import asyncio
import threading
import time

import psycopg
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import connection

from chatorical import tenancy
from chatorical.errors import ApiError
from conversations import message_batches, services
from conversations.models import Conversation, Message, OutboxEvent

Kind = OutboxEvent.Kind


def kinds(conversation):
    return list(OutboxEvent.objects.filter(conversation=conversation).values_list("kind", flat=True))


def test_start_records_conversation_started(in_default_tenant):
    conversation = services.conversation_start(tenant=in_default_tenant, visitor_name="Ada", locale="de-AT")
    assert conversation.status == "open"
    assert kinds(conversation) == [Kind.CONVERSATION_STARTED]


def test_messages_get_consecutive_seqs_and_events(in_default_tenant):
    conversation = services.conversation_start(tenant=in_default_tenant)
    first = services.message_add(conversation=conversation, direction=Message.Direction.INBOUND, text="hi")
    second = services.message_add(
        conversation=conversation, direction=Message.Direction.OUTBOUND, text="hello", agent_name="Bob"
    )
    assert (first.seq, second.seq) == (1, 2)
    conversation.refresh_from_db()
    assert conversation.last_seq == 2
    # The message log is the outbox of messages: storing one writes no event.
    assert kinds(conversation) == [Kind.CONVERSATION_STARTED]


@pytest.mark.parametrize("text", ["", "   ", None, 42])
def test_message_text_must_be_a_non_empty_string(in_default_tenant, text):
    conversation = services.conversation_start(tenant=in_default_tenant)
    with pytest.raises(ApiError) as error:
        services.message_add(conversation=conversation, direction=Message.Direction.INBOUND, text=text)
    assert error.value.code == "empty_text"
    assert not Message.objects.exists()


def test_oversized_text_is_refused_and_nothing_is_written(in_default_tenant, settings):
    conversation = services.conversation_start(tenant=in_default_tenant)
    with pytest.raises(ApiError) as error:
        services.message_add(
            conversation=conversation, direction="INBOUND", text="x" * (settings.MESSAGE_MAX_CHARS + 1)
        )
    assert error.value.code == "text_too_long"
    assert kinds(conversation) == [Kind.CONVERSATION_STARTED]


def test_closed_conversation_takes_no_messages(in_default_tenant):
    conversation = services.conversation_start(tenant=in_default_tenant)
    services.conversation_close(conversation=conversation)
    with pytest.raises(ApiError) as error:
        services.message_add(conversation=conversation, direction="INBOUND", text="late")
    assert error.value.code == "conversation_closed"
    assert kinds(conversation) == [Kind.CONVERSATION_STARTED, Kind.CONVERSATION_CLOSED]


def test_rename_note_claim_close_record_their_events(in_default_tenant):
    conversation = services.conversation_start(tenant=in_default_tenant, visitor_name="A")
    services.conversation_rename(conversation=conversation, visitor_name="B")
    services.conversation_rename(conversation=conversation, visitor_name="B")  # no change, no event
    services.conversation_note(conversation=conversation, note="VIP")
    services.conversation_claim(conversation=conversation, agent_id=7, agent_name="Bob")
    services.conversation_close(conversation=conversation)
    services.conversation_close(conversation=conversation)  # idempotent
    conversation.refresh_from_db()
    assert (conversation.visitor_name, conversation.note, conversation.status) == ("B", "VIP", "closed")
    assert (conversation.claimed_by_id, conversation.claimed_by_name) == (7, "Bob")
    assert kinds(conversation) == [
        Kind.CONVERSATION_STARTED,
        Kind.CONVERSATION_RENAMED,
        Kind.CONVERSATION_NOTED,
        Kind.CONVERSATION_CLAIMED,
        Kind.CONVERSATION_CLOSED,
    ]


def test_second_claim_is_refused(in_default_tenant):
    conversation = services.conversation_start(tenant=in_default_tenant)
    services.conversation_claim(conversation=conversation, agent_id=1, agent_name="Ann")
    with pytest.raises(ApiError) as error:
        services.conversation_claim(conversation=conversation, agent_id=2, agent_name="Ben")
    assert error.value.code == "already_claimed"


def test_messages_add_stores_a_batch_in_order_and_skips_closed_conversations(in_default_tenant):
    first, closed, second = (services.conversation_start(tenant=in_default_tenant) for _ in range(3))
    services.conversation_close(conversation=closed)
    services.message_add(conversation=second, direction="INBOUND", text="earlier")
    batch = [
        services.NewMessage(conversation=second, direction="INBOUND", text="b1"),
        services.NewMessage(conversation=first, direction="INBOUND", text="a1"),
        services.NewMessage(conversation=closed, direction="INBOUND", text="lost"),
        services.NewMessage(conversation=second, direction="OUTBOUND", text="b2", agent_name="Bob"),
        services.NewMessage(conversation=first, direction="INBOUND", text="a2"),
    ]
    stored = services.messages_add(messages=batch)
    assert [(m.text, m.seq) if m else None for m in stored] == [("b1", 2), ("a1", 1), None, ("b2", 3), ("a2", 2)]
    assert stored[3].agent_name == "Bob" and stored[3].conversation == second
    assert list(second.messages.order_by("seq").values_list("text", flat=True)) == ["earlier", "b1", "b2"]
    assert not closed.messages.exists()
    assert list(first.messages.order_by("seq").values_list("id", flat=True)) == [stored[1].id, stored[4].id]
    assert not OutboxEvent.objects.filter(kind=Kind.MESSAGE_ADDED).exists()


@pytest.mark.django_db(transaction=True)
def test_batches_in_opposite_orders_at_once_neither_deadlock_nor_skip_a_seq(default_tenant):
    """Each batch locks its conversations by id, whatever order its messages come in."""
    with tenancy.tenant_context(default_tenant):
        one, two = (services.conversation_start(tenant=default_tenant) for _ in range(2))
    failures = []

    def writer(order):
        try:
            with tenancy.tenant_context(default_tenant):
                for n in range(40):
                    batch = [services.NewMessage(conversation=c, direction="INBOUND", text=f"m{n}") for c in order]
                    services.messages_add(messages=batch, fan_out=False)
        except Exception as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(order,)) for order in ([one, two], [two, one])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with tenancy.tenant_context(default_tenant):
        for conversation in (one, two):
            assert list(conversation.messages.order_by("seq").values_list("seq", flat=True)) == list(range(1, 81))


def raw_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True)


@pytest.mark.django_db(transaction=True)
def test_a_batch_locks_its_conversations_by_id_whatever_their_order_in_it(default_tenant):
    """While another transaction holds the higher id, a batch that names it first has
    already locked the lower one and waits: two batches always lock in the same order."""
    with tenancy.tenant_context(default_tenant):
        low, high = sorted((services.conversation_start(tenant=default_tenant) for _ in range(2)), key=lambda c: c.id)
    table = Conversation._meta.db_table

    def store():
        try:
            with tenancy.tenant_context(default_tenant):
                batch = [services.NewMessage(conversation=c, direction="INBOUND", text="x") for c in (high, low)]
                services.messages_add(messages=batch, fan_out=False)
        finally:
            connection.close()

    with raw_connection() as holder, raw_connection() as prober:
        holder.execute("BEGIN")
        holder.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", (high.id,))
        writer = threading.Thread(target=store)
        writer.start()
        deadline = time.monotonic() + 5
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        while not prober.execute(waiting).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(psycopg.errors.LockNotAvailable):
            prober.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT", (low.id,))
        holder.execute("ROLLBACK")
        writer.join(timeout=10)
    with tenancy.tenant_context(default_tenant):
        assert sorted(Message.objects.values_list("conversation_id", flat=True)) == sorted([low.id, high.id])


def test_a_bad_text_refuses_the_whole_batch(in_default_tenant):
    conversation = services.conversation_start(tenant=in_default_tenant)
    batch = [
        services.NewMessage(conversation=conversation, direction="INBOUND", text="fine"),
        services.NewMessage(conversation=conversation, direction="INBOUND", text=" "),
    ]
    with pytest.raises(ApiError):
        services.messages_add(messages=batch)
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_nul_in_a_text_refuses_the_batch_before_any_of_it_is_stored(in_default_tenant):
    """A NUL (PostgreSQL cannot store it) is refused up front, for the whole batch: nothing
    of it is stored."""
    first, last = sorted((services.conversation_start(tenant=in_default_tenant) for _ in range(2)), key=lambda c: c.id)
    batch = [
        services.NewMessage(conversation=first, direction="INBOUND", text="fine"),
        services.NewMessage(conversation=last, direction="INBOUND", text="a\x00b"),
    ]
    with pytest.raises(ApiError) as error:
        services.messages_add(messages=batch)
    assert error.value.code == "invalid_text"
    assert not Message.objects.exists()
    assert not OutboxEvent.objects.filter(kind=Kind.MESSAGE_ADDED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_socket_batch_reports_a_tenant_s_failure_to_that_tenant_s_callers_alone(default_tenant, other_tenant):
    """Each tenant's messages of a batch commit on their own: one tenant's failure must not
    tell the callers of another tenant, whose messages are stored, that theirs failed."""
    with tenancy.tenant_context(default_tenant):
        ours = services.conversation_start(tenant=default_tenant)
    results = async_to_sync(message_batches._store)(
        [
            (default_tenant, services.NewMessage(conversation=ours, direction="INBOUND", text="stored")),
            (other_tenant, services.NewMessage(conversation=ours, direction="INBOUND", text="not theirs")),
        ]
    )
    assert isinstance(results[0], Message) and results[0].text == "stored"
    assert isinstance(results[1], tenancy.TenantMismatch)
    with tenancy.tenant_context(default_tenant):
        assert list(Message.objects.values_list("text", flat=True)) == ["stored"]


def test_an_agents_message_from_telegram_wakes_no_worker(in_default_tenant, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    from conversations.outbox import wake_flag

    from_telegram, from_widget = (services.conversation_start(tenant=in_default_tenant) for _ in range(2))
    cache.delete_many([wake_flag(from_telegram.id), wake_flag(from_widget.id)])
    with django_capture_on_commit_callbacks(execute=True):
        services.message_add(
            conversation=from_telegram, direction="OUTBOUND", text="hi", agent_name="Bob", telegram_message_id=77
        )
        services.message_add(conversation=from_widget, direction="INBOUND", text="hello")
    assert cache.get(wake_flag(from_telegram.id)) is None
    assert cache.get(wake_flag(from_widget.id)) is not None


def test_a_wake_up_the_broker_did_not_take_leaves_no_flag_behind(
    in_default_tenant, django_capture_on_commit_callbacks, monkeypatch
):
    """Else the conversation's next wake-ups would be skipped until the flag expired."""
    from django.core.cache import cache

    from chatorical.celery import app
    from conversations.outbox import wake_flag

    conversation = services.conversation_start(tenant=in_default_tenant)
    cache.delete(wake_flag(conversation.id))
    # The broker is away: the app's connections and producers are made anew, to a dead port.
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/3")
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_add(conversation=conversation, direction="INBOUND", text="while the broker is away")
    assert cache.get(wake_flag(conversation.id)) is None
    assert conversation.messages.filter(text="while the broker is away").exists()


@pytest.mark.django_db(transaction=True)
async def test_a_socket_message_wakes_one_drain_and_none_for_a_parked_conversation(default_tenant, monkeypatch):
    """The sockets' wake-ups (outbox.wake, from the event loop): one drain per burst, none
    while the send budget keeps the conversation parked."""
    from django.core.cache import cache

    from conversations import outbox

    with tenancy.tenant_context(default_tenant):
        awake, parked = [await database_sync_to_async(services.conversation_start)(tenant=default_tenant) for _ in "ab"]
    queued = []
    monkeypatch.setattr(outbox, "_drain_queue", lambda tenant_id, conversation_id: queued.append(conversation_id))
    cache.delete(outbox.wake_flag(awake.id))
    cache.set(outbox.wake_flag(parked.id), outbox.PARKED, timeout=60)
    for text in ("one", "two"):
        batch = [services.NewMessage(conversation=c, direction="INBOUND", text=text) for c in (awake, parked)]
        await services.socket_messages_add(tenant=default_tenant, messages=batch)
    assert queued == [awake.id]
    assert cache.get(outbox.wake_flag(awake.id)) is not None
    assert cache.get(outbox.wake_flag(parked.id)) == outbox.PARKED


@pytest.mark.django_db(transaction=True)
async def test_a_parked_conversation_s_messages_cost_no_wake_up_until_its_park_ends(default_tenant, monkeypatch):
    """Once a socket message found the conversation parked, its next messages ask Redis
    nothing (the flag, gone meanwhile, is not set again) until at most
    PARK_REMEMBERED_SECONDS have passed; a plain flag teaches nothing."""
    from django.core.cache import cache

    from conversations import outbox

    with tenancy.tenant_context(default_tenant):
        parked, awake = [await database_sync_to_async(services.conversation_start)(tenant=default_tenant) for _ in "ab"]
    queued = []
    monkeypatch.setattr(outbox, "_drain_queue", lambda tenant_id, conversation_id: queued.append(conversation_id))
    monkeypatch.setattr(outbox, "PARK_REMEMBERED_SECONDS", 0.2)
    cache.set(outbox.wake_flag(parked.id), outbox.PARKED, timeout=120)
    cache.set(outbox.wake_flag(awake.id), 1, timeout=outbox.WAKE_FLAG_SECONDS)

    async def say(text):
        batch = [services.NewMessage(conversation=c, direction="INBOUND", text=text) for c in (parked, awake)]
        await services.socket_messages_add(tenant=default_tenant, messages=batch)

    await say("one")
    cache.delete_many([outbox.wake_flag(parked.id), outbox.wake_flag(awake.id)])
    await say("two")
    assert queued == [awake.id]
    assert cache.get(outbox.wake_flag(parked.id)) is None
    await asyncio.sleep(0.3)
    await say("three")
    assert queued == [awake.id, parked.id]


@pytest.mark.django_db(transaction=True)
async def test_a_socket_message_s_wake_up_the_broker_did_not_take_leaves_no_flag(default_tenant, monkeypatch):
    from django.core.cache import cache

    from conversations import outbox

    def broker_away(tenant_id, conversation_id):
        raise ConnectionError("broker away")

    with tenancy.tenant_context(default_tenant):
        conversation = await database_sync_to_async(services.conversation_start)(tenant=default_tenant)
    monkeypatch.setattr(outbox, "_drain_queue", broker_away)
    cache.delete(outbox.wake_flag(conversation.id))
    message = services.NewMessage(conversation=conversation, direction="INBOUND", text="kept")
    [stored] = await services.socket_messages_add(tenant=default_tenant, messages=[message])
    assert stored.seq == 1
    assert cache.get(outbox.wake_flag(conversation.id)) is None
