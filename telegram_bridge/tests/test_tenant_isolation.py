"""Two tenants, two bots, two support groups: neither can reach or slow the other."""

import time

import pytest
from django.test import Client

from chatorical import tenancy
from conversations import services
from conversations.models import Message, OutboxCursor
from conversations.tasks import outbox_sweep
from telegram_bridge.tests.conftest import AGENT, DEFAULT_CHAT_ID, HEADER_SECRET, topic_of
from tenants.services import telegram_config_set

ACME_TOKEN = "7000000002:AAAcmeBotTokenForTestsOnly-0123456789"
ACME_CHAT = -1009876543210
ACME_SECRET = "acme-path-secret-0123456789abcdef0123"
ACME_HEADER = "acme-header-secret-0123456789abcdef"


@pytest.fixture
def acme(agents, other_tenant):
    agents.fake.add_bot(ACME_TOKEN, username="acme_bot")
    agents.fake.add_supergroup(ACME_CHAT, title="Acme support")
    telegram_config_set(
        tenant=other_tenant,
        bot_token=ACME_TOKEN,
        support_group_id=ACME_CHAT,
        webhook_secret=ACME_SECRET,
        header_secret=ACME_HEADER,
    )
    return other_tenant


def start_for(tenant, name):
    with tenancy.tenant_context(tenant):
        return services.conversation_start(tenant=tenant, visitor_name=name)


def say(conversation, text):
    with tenancy.tenant_context(conversation.tenant):
        services.message_add(conversation=conversation, direction=Message.Direction.INBOUND, text=text)


def pending(conversation):
    """The conversation's messages not handed on to Telegram yet."""
    with tenancy.tenant_context(conversation.tenant):
        cursor = OutboxCursor.objects.get(pk=conversation.pk)
        return Message.objects.filter(conversation=conversation, seq__gt=cursor.delivered_seq).count()


def test_each_tenant_posts_with_its_own_bot_into_its_own_group(agents, acme):
    ours, theirs = start_for(agents.tenant, "Ours"), start_for(acme, "Theirs")
    outbox_sweep.run()
    assert [t["name"] for t in agents.fake.topics(DEFAULT_CHAT_ID)] == ["Ours"]
    assert [t["name"] for t in agents.fake.topics(ACME_CHAT)] == ["Theirs"]
    assert {c.token for c in agents.fake.calls(chat_id=ACME_CHAT)} == {ACME_TOKEN}
    assert ACME_TOKEN not in {c.token for c in agents.fake.calls(chat_id=DEFAULT_CHAT_ID)}
    assert ours.tenant_id != theirs.tenant_id


def test_one_tenants_failing_bot_does_not_delay_another(agents, acme):
    ours, theirs = start_for(agents.tenant, "Ours"), start_for(acme, "Theirs")
    outbox_sweep.run()
    # Our group is rate limited for an hour; Acme's token is revoked. Each failure stays
    # with its own conversations.
    agents.fake.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 3600", {"retry_after": 3600}, chat_id=DEFAULT_CHAT_ID
    )
    agents.fake.fail_next("sendMessage", 401, "Unauthorized", times=100, chat_id=ACME_CHAT)
    say(ours, "ours waits")
    say(theirs, "theirs waits")
    start_for(agents.tenant, "Later")
    started = time.monotonic()
    outbox_sweep.run()
    assert time.monotonic() - started < 5, "a failing bot must not hold the worker"
    assert pending(ours) == 1 and pending(theirs) == 1
    assert "Later" in [t["name"] for t in agents.fake.topics(DEFAULT_CHAT_ID)], "other conversations go on"


def test_a_webhook_cannot_reach_another_tenants_conversation(agents, acme):
    theirs = start_for(acme, "Theirs")
    outbox_sweep.run()
    theirs.refresh_from_db()
    services_claim(theirs)
    # Our webhook (path and header secret) carrying Acme's chat and thread id.
    update = agents.fake.add_user_message(ACME_CHAT, "injected", thread_id=topic_of(theirs).thread_id, user=AGENT)
    assert agents.send_update(update).json() == {"ok": True}
    agents.process_updates()
    # Acme's path secret with our header secret is refused.
    response = Client().post(
        f"/v2/telegram/webhook/{ACME_SECRET}",
        update,
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=HEADER_SECRET,
    )
    assert response.status_code == 403
    with tenancy.tenant_context(acme):
        assert not Message.objects.filter(conversation=theirs).exists()


def test_acme_webhook_reaches_only_acme(agents, acme):
    theirs = start_for(acme, "Theirs")
    outbox_sweep.run()
    theirs.refresh_from_db()
    services_claim(theirs)
    update = agents.fake.add_user_message(
        ACME_CHAT, "hello from acme", thread_id=topic_of(theirs).thread_id, user=AGENT
    )
    response = Client().post(
        f"/v2/telegram/webhook/{ACME_SECRET}",
        update,
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=ACME_HEADER,
    )
    assert response.json() == {"ok": True}
    from telegram_bridge.tasks import telegram_updates_sweep

    telegram_updates_sweep.run()
    with tenancy.tenant_context(acme):
        assert list(Message.objects.filter(conversation=theirs).values_list("text", flat=True)) == ["hello from acme"]


def services_claim(conversation):
    with tenancy.tenant_context(conversation.tenant):
        services.conversation_claim(conversation=conversation, agent_id=AGENT["id"], agent_name="grace")
