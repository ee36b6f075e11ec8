"""Telegram's bad days: 429s, deleted topics, missing rights, migrations, budgets."""

import json
import time
from datetime import datetime

import redis
from django.core.cache import cache
from django.utils import timezone

from chatorical import tenancy
from conversations import outbox, services
from conversations.models import OutboxCursor, OutboxEvent
from conversations.tasks import outbox_sweep
from conversations.tests.factories import start, visitor_says
from telegram_bridge.bridge import Bridge, bot_problem
from telegram_bridge.models import ChatMigration
from telegram_bridge.tests.conftest import DEFAULT_CHAT_ID, topic_of


def pending(conversation):
    with tenancy.tenant_context(conversation.tenant):
        return list(OutboxEvent.objects.filter(conversation=conversation, status="pending"))


def cursor_of(conversation) -> OutboxCursor:
    with tenancy.tenant_context(conversation.tenant):
        return OutboxCursor.objects.get(pk=conversation.pk)


def delayed_drains(settings) -> dict[str, float]:
    """The drains queued with a countdown, by conversation: seconds from now."""
    broker = redis.Redis.from_url(settings.REDIS_URL)
    found = {}
    for raw in broker.lrange(f"{settings.REDIS_KEY_PREFIX}:celery:celery", 0, -1):
        task = json.loads(raw)
        if task["headers"].get("eta"):
            conversation_id = task["headers"]["kwargsrepr"].split("'conversation_id': '")[1].split("'")[0]
            eta = datetime.fromisoformat(task["headers"]["eta"])
            found[conversation_id] = (eta - timezone.now()).total_seconds()
    return found


def test_429_is_honoured_exactly_once(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", {"retry_after": 1})
    visitor_says(conversation, "wait for it")
    agents.drain(conversation)
    cursor = cursor_of(conversation)
    assert (cursor.delivered_seq, cursor.attempts, cursor.available_at) == (0, 0, None), "nothing is written"
    assert cache.get(outbox.wake_flag(conversation.pk)) == outbox.PARKED
    agents.drain(conversation)  # still paused: nothing is sent
    time.sleep(1.1)
    agents.drain(conversation)
    assert agents.topic_texts(conversation)[-1] == "wait for it"
    sends = [c for c in agents.fake.calls("sendMessage") if c.params["text"] == "wait for it"]
    assert [c.status for c in sends] == [429, 200]


def test_deleted_topic_is_replaced_and_the_message_delivered(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    visitor_says(conversation, "first")
    agents.drain(conversation)
    conversation.refresh_from_db()
    old_thread = topic_of(conversation).thread_id
    agents.fake.delete_topic(DEFAULT_CHAT_ID, old_thread)

    visitor_says(conversation, "are you there?")
    agents.drain(conversation)
    conversation.refresh_from_db()
    assert topic_of(conversation).thread_id != old_thread
    texts = agents.topic_texts(conversation)
    assert "Ada" in texts[0]  # a new header
    assert "first" in texts[1] and "deleted" in texts[1]  # the history summary
    assert texts[-1] == "are you there?", [(e.last_error, e.available_at) for e in pending(conversation)]
    assert agents.fake.pinned(DEFAULT_CHAT_ID)["message_id"] == topic_of(conversation).header_message_id


def test_missing_topic_rights_keep_the_conversation_until_granted(client, agents):
    agents.fake.set_rights(DEFAULT_CHAT_ID, can_manage_topics=False)
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    [event] = pending(conversation)
    assert event.attempts == 0
    assert "missing_rights" in bot_problem(agents.tenant.id)

    agents.fake.set_rights(DEFAULT_CHAT_ID, can_manage_topics=True)
    with tenancy.tenant_context(agents.tenant):
        OutboxEvent.objects.filter(pk=event.pk).update(available_at=timezone.now())
    agents.drain(conversation)
    assert pending(conversation) == []
    assert agents.fake.topics(DEFAULT_CHAT_ID)[0]["name"] == "Ada"
    assert bot_problem(agents.tenant.id) is None


def test_migrated_group_is_followed_and_the_message_resent(client, agents, settings):
    agents.fake.migrate_chat(-4001, DEFAULT_CHAT_ID)
    settings.SUPPORT_GROUP_ID = "-4001"
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    conversation.refresh_from_db()
    assert topic_of(conversation).chat_id == DEFAULT_CHAT_ID
    with tenancy.tenant_context(agents.tenant):
        assert ChatMigration.objects.get().to_chat_id == DEFAULT_CHAT_ID
    assert agents.fake.topics(DEFAULT_CHAT_ID)[0]["name"] == "Ada"


def test_a_bridge_follows_an_upgrade_another_process_recorded_since_it_read_the_group(agents):
    with tenancy.tenant_context(agents.tenant):
        bridge = Bridge.for_tenant(agents.tenant)
        assert bridge.support_chat_id == DEFAULT_CHAT_ID
        ChatMigration.objects.create(tenant=agents.tenant, from_chat_id=DEFAULT_CHAT_ID, to_chat_id=-100777)
        assert bridge.is_support_chat(-100777)
        assert not bridge.is_support_chat(DEFAULT_CHAT_ID)


def test_group_budget_defers_instead_of_hitting_telegrams_limit(agents, settings):
    settings.TELEGRAM_GROUP_POSTS_PER_MINUTE = 19
    redis.Redis.from_url(settings.REDIS_URL).delete(f"{settings.REDIS_KEY_PREFIX}:celery:celery")
    with tenancy.tenant_context(agents.tenant):
        conversations = [services.conversation_start(tenant=agents.tenant, visitor_name=f"V{i}") for i in range(25)]
    for conversation in conversations:
        agents.drain(conversation)
    sends = agents.fake.calls("sendMessage")
    assert [c for c in sends if c.status == 429] == []
    assert len(sends) == 2, "a burst of two, then one post every 60/17 s"
    deferred = [c for c in conversations if pending(c)]
    assert len(deferred) == 23
    # Parked, not retried: each waits for its own slot of the group's budget, in the order
    # they came, so they do not all wake at once to find one slot.
    assert all(cache.get(outbox.wake_flag(c.pk)) == outbox.PARKED for c in deferred)
    waits = delayed_drains(settings)
    waits = [waits[str(c.pk)] for c in deferred]
    assert 0 < waits[0] <= 60 / 17 + 0.5
    steps = [later - earlier for earlier, later in zip(waits, waits[1:], strict=False)]
    assert all(abs(step - 60 / 17) < 0.3 for step in steps), steps


def test_backlog_of_visitor_messages_goes_out_as_one_post_in_order(client, agents, settings):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    for i in range(10):
        visitor_says(conversation, f"message {i}")
    agents.drain(conversation)
    posts = agents.topic_texts(conversation)[1:]
    assert posts == ["\n".join(f"message {i}" for i in range(10))]
    assert pending(conversation) == []


def test_deleting_a_conversation_deletes_its_topic_through_the_outbox(client, agents, default_tenant):
    first, second = start(client, name="Ada"), start(client, name="Bob")
    agents.drain(first)
    agents.drain(second)
    with tenancy.tenant_context(default_tenant):
        services.conversations_delete(conversation_ids=[first.pk, second.pk])
    # Someone removed the second topic by hand already: that is success too.
    agents.fake.delete_topic(DEFAULT_CHAT_ID, agents.fake.topics(DEFAULT_CHAT_ID)[1]["message_thread_id"])
    outbox_sweep()
    assert agents.fake.topics(DEFAULT_CHAT_ID) == []
    with tenancy.tenant_context(default_tenant):
        removals = OutboxEvent.objects.filter(kind=OutboxEvent.Kind.TOPIC_DELETE)
        assert sorted(removals.values_list("status", flat=True)) == ["done", "done"]


def test_ready_names_a_bot_that_lacks_a_right(client, agents, settings):
    agents.fake.set_rights(DEFAULT_CHAT_ID, can_manage_topics=False)
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    body = client.get("/ready", HTTP_AUTHORIZATION=f"Bearer {settings.SERVICE_TOKEN}").json()
    assert body["status"] == "ok"
    assert "missing_rights" in body["telegram"]["default"]


def test_a_new_support_group_reusing_thread_ids_takes_them_over(client, agents, settings):
    old = start(client, name="Old group")
    agents.drain(old)
    old.refresh_from_db()
    agents.fake.add_supergroup(-1005550001, title="New support group")
    settings.SUPPORT_GROUP_ID = "-1005550001"
    new = start(client, name="New group")
    agents.drain(new)
    new.refresh_from_db()
    old.refresh_from_db()
    assert topic_of(new).thread_id == 2 and topic_of(new).chat_id == -1005550001, (
        "a fresh group numbers its topics from the start"
    )
    assert topic_of(old).thread_id is None
