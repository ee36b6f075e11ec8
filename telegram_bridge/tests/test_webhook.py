import contextlib

import psycopg
import pytest
from django.db import connection

from chatorical import tenancy
from conversations.models import Message
from conversations.tests.factories import start
from telegram_bridge.models import TelegramUpdate
from telegram_bridge.tests.conftest import AGENT, DEFAULT_CHAT_ID, HEADER_SECRET, WEBHOOK_SECRET, topic_of


def stored_updates(tenant):
    with tenancy.tenant_context(tenant):
        return TelegramUpdate.objects.count()


def test_the_same_update_twice_is_processed_once(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation)
    conversation.refresh_from_db()
    update = agents.fake.add_user_message(
        DEFAULT_CHAT_ID, "only once", thread_id=topic_of(conversation).thread_id, user=AGENT
    )
    assert agents.send_update(update).status_code == 200
    assert agents.send_update(update).status_code == 200
    agents.process_updates()
    with tenancy.tenant_context(agents.tenant):
        assert Message.objects.filter(text="only once").count() == 1


def test_update_ids_restarting_lower_are_still_processed(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation)
    conversation.refresh_from_db()
    late = agents.fake.add_user_message(
        DEFAULT_CHAT_ID, "after a quiet week", thread_id=topic_of(conversation).thread_id, user=AGENT
    )
    late["update_id"] = 3  # Telegram restarts ids at a random value after a quiet week
    agents.send_update(late)
    agents.process_updates()
    with tenancy.tenant_context(agents.tenant):
        assert Message.objects.filter(text="after a quiet week").exists()


@pytest.mark.parametrize("body", ["{not json", "[]", '{"update_id": "seven"}', '{"no_id": 1}', ""])
def test_unparsable_updates_are_acknowledged_and_dropped(client, agents, body):
    response = agents.client.post(
        "/v1/telegram/webhook",
        body,
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=HEADER_SECRET,
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert stored_updates(agents.tenant) == 0


def test_wrong_header_secret_is_refused_and_nothing_stored(agents):
    response = agents.send_update({"update_id": 1, "message": {}}, secret="guess")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert stored_updates(agents.tenant) == 0


def test_v2_path_routes_the_default_tenant_by_its_secret(agents):
    response = agents.client.post(
        f"/v2/telegram/webhook/{WEBHOOK_SECRET}",
        {"update_id": 9},
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=HEADER_SECRET,
    )
    assert response.json() == {"ok": True}
    assert stored_updates(agents.tenant) == 1


def test_v2_path_with_an_unknown_secret_is_refused(agents):
    response = agents.client.post("/v2/telegram/webhook/nope", {"update_id": 9}, content_type="application/json")
    assert response.status_code == 403
    assert stored_updates(agents.tenant) == 0


def test_updates_from_elsewhere_are_ignored(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation)
    conversation.refresh_from_db()
    agents.fake.add_supergroup(-100999, title="Elsewhere")
    in_general = agents.fake.add_user_message(DEFAULT_CHAT_ID, "in General", user=AGENT)
    other_chat = agents.fake.add_user_message(-100999, "other chat", user=AGENT)
    from_bot = agents.fake.add_user_message(
        DEFAULT_CHAT_ID,
        "a bot",
        thread_id=topic_of(conversation).thread_id,
        user={"id": 1, "is_bot": True, "first_name": "B"},
    )
    for update in (in_general, other_chat, from_bot):
        assert agents.send_update(update).json() == {"ok": True}
    with tenancy.tenant_context(agents.tenant):
        assert not TelegramUpdate.objects.filter(processed_at__isnull=True).exists()
        assert not Message.objects.filter(direction="OUTBOUND").exists()


def test_get_is_not_allowed(agents):
    assert agents.client.get("/v1/telegram/webhook").status_code == 405


def test_a_webhook_flood_is_answered_429_with_retry_after(agents, default_tenant):
    default_tenant.rate_limits = {"webhook": {"tenant": {"limit": 3, "period": 60}}}
    default_tenant.save()
    statuses = [agents.send_update({"update_id": 100 + i}).status_code for i in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = agents.send_update({"update_id": 200})
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert stored_updates(agents.tenant) == 3


def pending_updates(tenant) -> list[int]:
    with tenancy.tenant_context(tenant):
        return list(
            TelegramUpdate.objects.filter(processed_at__isnull=True).order_by("id").values_list("update_id", flat=True)
        )


def claimed_conversation(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation)
    conversation.refresh_from_db()
    return conversation


def store_unprocessed(tenant, update: dict) -> None:
    """An update stored by a webhook request that died before it processed it."""
    with tenancy.tenant_context(tenant):
        TelegramUpdate.objects.create(tenant=tenant, update_id=update["update_id"], payload=update)


def outbound_texts(tenant) -> list[str]:
    with tenancy.tenant_context(tenant):
        return list(Message.objects.filter(direction="OUTBOUND").order_by("id").values_list("text", flat=True))


def test_the_webhook_processes_the_update_it_stored(client, agents, queued):
    conversation = claimed_conversation(client, agents)
    update = agents.fake.add_user_message(
        DEFAULT_CHAT_ID, "on it", thread_id=topic_of(conversation).thread_id, user=AGENT
    )
    assert agents.send_update(update).json() == {"ok": True}
    # Answered with the message stored: no worker took part.
    assert outbound_texts(agents.tenant) == ["on it"]
    assert pending_updates(agents.tenant) == []
    assert queued == []


def test_updates_left_waiting_go_first_in_the_order_they_came(client, agents):
    conversation = claimed_conversation(client, agents)
    thread_id = topic_of(conversation).thread_id
    first = agents.fake.add_user_message(DEFAULT_CHAT_ID, "first", thread_id=thread_id, user=AGENT)
    second = agents.fake.add_user_message(DEFAULT_CHAT_ID, "second", thread_id=thread_id, user=AGENT)
    store_unprocessed(agents.tenant, first)
    assert agents.send_update(second).json() == {"ok": True}
    assert outbound_texts(agents.tenant) == ["first", "second"]
    assert pending_updates(agents.tenant) == []


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The tenants whose updates a webhook request handed to a worker."""
    from telegram_bridge.api import webhook

    tenants = []
    monkeypatch.setattr(webhook.telegram_updates_process, "delay", lambda *, tenant_id: tenants.append(tenant_id))
    return tenants


def test_a_backlog_past_the_request_limit_is_left_to_the_worker(client, agents, monkeypatch, queued):
    from telegram_bridge.api import webhook

    monkeypatch.setattr(webhook, "WEBHOOK_UPDATES_MAX", 3)
    conversation = claimed_conversation(client, agents)
    thread_id = topic_of(conversation).thread_id
    backlog = [
        agents.fake.add_user_message(DEFAULT_CHAT_ID, f"m{n}", thread_id=thread_id, user=AGENT) for n in range(5)
    ]
    for update in backlog[:4]:
        store_unprocessed(agents.tenant, update)
    assert agents.send_update(backlog[4]).json() == {"ok": True}
    # The request stopped after three, oldest first; the worker takes the rest in order.
    assert outbound_texts(agents.tenant) == ["m0", "m1", "m2"]
    assert pending_updates(agents.tenant) == [backlog[3]["update_id"], backlog[4]["update_id"]]
    assert queued == [agents.tenant.id]
    assert agents.process_updates() == 2
    assert outbound_texts(agents.tenant) == ["m0", "m1", "m2", "m3", "m4"]


@contextlib.contextmanager
def locked_elsewhere(tenant, update_id: int):
    """Another process's transaction holding a stored update, as a worker processing it does."""
    db = connection.settings_dict
    dsn = f"host={db['HOST']} port={db['PORT']} user={db['USER']} dbname={db['NAME']}"
    with psycopg.connect(dsn) as other:
        locked = other.execute(
            f"SELECT id FROM {TelegramUpdate._meta.db_table} WHERE tenant_id = %s AND update_id = %s FOR UPDATE",
            (tenant.id, update_id),
        ).fetchone()
        assert locked is not None
        yield


@pytest.mark.django_db(transaction=True)
def test_an_update_held_by_another_process_is_left_to_it(client, agents):
    """While another process holds the oldest update, a webhook stores its own and answers:
    that process goes on with the next one, so the two never reorder an agent's messages."""
    conversation = claimed_conversation(client, agents)
    thread_id = topic_of(conversation).thread_id
    held = agents.fake.add_user_message(DEFAULT_CHAT_ID, "held", thread_id=thread_id, user=AGENT)
    later = agents.fake.add_user_message(DEFAULT_CHAT_ID, "later", thread_id=thread_id, user=AGENT)
    store_unprocessed(agents.tenant, held)
    with locked_elsewhere(agents.tenant, held["update_id"]):
        assert agents.send_update(later).json() == {"ok": True}
        assert outbound_texts(agents.tenant) == []
    assert agents.process_updates() == 2
    assert outbound_texts(agents.tenant) == ["held", "later"]


def test_a_failure_while_processing_still_answers_ok_and_keeps_the_update(client, agents, monkeypatch, queued):
    from django.db import DatabaseError

    from telegram_bridge import updates

    conversation = claimed_conversation(client, agents)
    update = agents.fake.add_user_message(
        DEFAULT_CHAT_ID, "kept", thread_id=topic_of(conversation).thread_id, user=AGENT
    )

    def database_away(*args):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(updates, "_oldest_taken", database_away)
    assert agents.send_update(update).json() == {"ok": True}
    assert pending_updates(agents.tenant) == [update["update_id"]]
    assert queued == [agents.tenant.id]
    monkeypatch.undo()
    assert agents.process_updates() == 1
    assert outbound_texts(agents.tenant) == ["kept"]


def test_telegram_s_retry_of_an_update_stored_but_not_processed_gets_it_processed(client, agents, queued):
    conversation = claimed_conversation(client, agents)
    update = agents.fake.add_user_message(
        DEFAULT_CHAT_ID, "again", thread_id=topic_of(conversation).thread_id, user=AGENT
    )
    store_unprocessed(agents.tenant, update)  # the first try's request died after storing it
    assert agents.send_update(update).json() == {"ok": True}
    assert outbound_texts(agents.tenant) == ["again"]
    assert pending_updates(agents.tenant) == [] and queued == []


def test_an_update_that_fails_is_passed_over_with_nothing_it_wrote_and_the_next_is_processed(
    client, agents, monkeypatch, caplog
):
    from conversations import services
    from telegram_bridge import updates

    conversation = claimed_conversation(client, agents)
    thread_id = topic_of(conversation).thread_id
    poison = agents.fake.add_user_message(DEFAULT_CHAT_ID, "poison", thread_id=thread_id, user=AGENT)
    after = agents.fake.add_user_message(DEFAULT_CHAT_ID, "after", thread_id=thread_id, user=AGENT)
    store_unprocessed(agents.tenant, poison)
    on_agent_text = updates._on_agent_text

    def stores_then_fails(conversation, user, text, telegram_message_id):
        on_agent_text(conversation, user, text, telegram_message_id)
        if text == "poison":
            services.conversation_note(conversation=conversation, note="written by the poison")
            raise RuntimeError("a bug met this update")

    monkeypatch.setattr(updates, "_on_agent_text", stores_then_fails)
    assert agents.send_update(after).json() == {"ok": True}
    assert outbound_texts(agents.tenant) == ["after"]
    assert pending_updates(agents.tenant) == []
    conversation.refresh_from_db()
    assert conversation.note != "written by the poison"
    assert f"telegram update {poison['update_id']} could not be processed" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_processing_commits_without_waiting_for_the_disk_and_leaves_the_connection_as_it_was(
    client, agents, monkeypatch
):
    """The webhook acknowledges the update once it is on disk (a crash before its
    processing reaches the disk leaves it waiting for the sweep): the processing need not
    wait for the disk. The setting ends with the transaction, not on the pooled connection."""
    from telegram_bridge import updates

    conversation = claimed_conversation(client, agents)
    seen = []

    def synchronous_commit():
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    update_store, update_process = updates.update_store, updates.update_process

    def store_watched(**kwargs):
        seen.append(("store", synchronous_commit()))
        return update_store(**kwargs)

    def process_watched(**kwargs):
        seen.append(("process", synchronous_commit()))
        update_process(**kwargs)

    from telegram_bridge.api import webhook

    monkeypatch.setattr(webhook, "update_store", store_watched)
    monkeypatch.setattr(updates, "update_process", process_watched)
    agents.say(conversation, "reply")
    assert seen == [("store", "on"), ("process", "off")]
    assert synchronous_commit() == "on"


def test_the_webhook_answers_once_the_update_and_its_processing_are_on_disk(client, agents):
    """The update's and its processing's commits do not wait for the disk; one commit that
    does (it flushes all written before it) comes last, before Telegram's answer."""
    from django.test.utils import CaptureQueriesContext

    conversation = claimed_conversation(client, agents)
    update = agents.fake.add_user_message(
        DEFAULT_CHAT_ID, "on disk", thread_id=topic_of(conversation).thread_id, user=AGENT
    )
    with CaptureQueriesContext(connection) as queries:
        assert agents.send_update(update).json() == {"ok": True}
    statements = [query["sql"] for query in queries.captured_queries]
    stored = next(i for i, sql in enumerate(statements) if "INSERT INTO telegram_bridge_telegramupdate" in sql)
    processed = next(i for i, sql in enumerate(statements) if "SET processed_at = now()" in sql)
    assert "set_config('synchronous_commit', 'off', true)" in statements[stored]
    assert stored < processed < len(statements) - 1
    assert statements[-1] == "SELECT txid_current()"
    assert outbound_texts(agents.tenant) == ["on disk"]


@pytest.mark.parametrize("thread_id", [str, float, None])
def test_a_topic_message_whose_ids_are_not_telegrams_shape_is_passed_over_quietly(client, agents, caplog, thread_id):
    conversation = claimed_conversation(client, agents)
    update = agents.fake.add_user_message(
        DEFAULT_CHAT_ID, "odd ids", thread_id=topic_of(conversation).thread_id, user=AGENT
    )
    message = update["message"]
    message["message_thread_id"] = thread_id(message["message_thread_id"]) if thread_id else None
    assert agents.send_update(update).json() == {"ok": True}
    chat_as_text = agents.fake.add_user_message(DEFAULT_CHAT_ID, "odd chat", thread_id=topic_of(conversation).thread_id)
    chat_as_text["message"]["chat"]["id"] = str(DEFAULT_CHAT_ID)
    assert agents.send_update(chat_as_text).json() == {"ok": True}
    assert outbound_texts(agents.tenant) == []
    assert pending_updates(agents.tenant) == []
    assert "could not be processed" not in caplog.text
