"""The whole v1 flow through the public surface: widget HTTP, webhook, Bot API calls."""

import pytest

from chatorical import tenancy
from conversations import services
from conversations.models import Message
from conversations.tests.factories import start, visitor_says
from telegram_bridge.tests.conftest import AGENT, DEFAULT_CHAT_ID, OTHER_AGENT, topic_of


def outbound(conversation) -> list[tuple[str, str]]:
    with tenancy.tenant_context(conversation.tenant):
        return list(
            Message.objects.filter(conversation=conversation, direction="OUTBOUND").values_list("agent_name", "text")
        )


def test_start_opens_a_topic_with_a_pinned_header_and_claim_button(client, agents):
    conversation = start(client, name="Ada Lovelace", locale="de-AT", page_url="https://shop.example/cart")
    agents.drain(conversation)
    conversation.refresh_from_db()

    topic = agents.fake.topics(DEFAULT_CHAT_ID)[0]
    assert topic["name"] == "Ada Lovelace"
    assert topic["message_thread_id"] == topic_of(conversation).thread_id
    header = agents.fake.pinned(DEFAULT_CHAT_ID)
    assert header["message_id"] == topic_of(conversation).header_message_id
    assert (
        "Ada Lovelace" in header["text"] and "de-AT" in header["text"] and "https://shop.example/cart" in header["text"]
    )
    button = header["reply_markup"]["inline_keyboard"][0][0]
    assert button["text"] == "Claim" and button["callback_data"] == f"claim:{conversation.id.hex}"
    sends = agents.fake.calls("sendMessage")
    assert all(call.params["disable_notification"] is True for call in sends)


def test_full_conversation(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)

    visitor_says(conversation, "My order is late")
    agents.drain(conversation)
    assert agents.topic_texts(conversation)[-1] == "My order is late"

    agents.say(conversation, "Hello before claiming")
    assert outbound(conversation) == []
    agents.drain(conversation)
    assert "Claim" in agents.topic_texts(conversation)[-1]

    claim = agents.press_claim(conversation)
    assert claim["callback_query"]["id"] in agents.fake.callback_answers()
    conversation.refresh_from_db()
    assert (conversation.status, conversation.claimed_by_name) == ("claimed", "grace")
    agents.drain(conversation)
    header = agents.fake.pinned(DEFAULT_CHAT_ID)
    assert "claimed by grace" in header["text"] and "reply_markup" not in header

    agents.say(conversation, "Let me check that for you")
    assert outbound(conversation) == [("grace", "Let me check that for you")]
    agents.drain(conversation)
    bot_posts = [c.params["text"] for c in agents.fake.calls("sendMessage")]
    assert "Let me check that for you" not in bot_posts, "no echo of the agent's own text"

    agents.say(conversation, "I can help too", user=OTHER_AGENT)
    assert len(outbound(conversation)) == 1
    agents.drain(conversation)
    assert "grace has claimed" in agents.topic_texts(conversation)[-1]

    client.post(
        f"/v1/conversations/{conversation.id}/rename",
        {"name": "Ada L."},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {_token(conversation)}",
    )
    agents.drain(conversation)
    assert agents.fake.topics(DEFAULT_CHAT_ID)[0]["name"] == "Ada L."

    agents.say(conversation, "/note VIP customer")
    agents.drain(conversation)
    conversation.refresh_from_db()
    assert conversation.note == "VIP customer"
    assert agents.fake.topics(DEFAULT_CHAT_ID)[0]["name"] == "Ada L. · VIP customer"

    agents.say(conversation, "/close")
    agents.drain(conversation)
    conversation.refresh_from_db()
    assert conversation.status == "closed"
    assert agents.fake.topics(DEFAULT_CHAT_ID)[0]["closed"] is True


def _token(conversation):
    from conversations.tokens import token_issue

    return token_issue(conversation=conversation, ttl_seconds=60)


def test_claim_by_command_uses_first_name_without_username(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.say(conversation, "/claim", user=OTHER_AGENT)
    conversation.refresh_from_db()
    assert conversation.claimed_by_name == "Linus"


def test_second_claim_gets_a_hint(client, agents):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation, user=AGENT)
    agents.say(conversation, "/claim", user=OTHER_AGENT)
    agents.drain(conversation)
    conversation.refresh_from_db()
    assert conversation.claimed_by_id == AGENT["id"]
    assert "Already claimed by grace" in agents.topic_texts(conversation)[-1]


def test_unknown_command_gets_help(client, agents):
    conversation = start(client)
    agents.drain(conversation)
    agents.say(conversation, "/dance")
    agents.drain(conversation)
    assert "/claim" in agents.topic_texts(conversation)[-1]


def test_long_visitor_message_arrives_in_order_in_parts(client, agents):
    conversation = start(client)
    agents.drain(conversation)
    text = " ".join(f"w{i}" for i in range(3000))[:10000]
    visitor_says(conversation, text)
    agents.drain(conversation)
    posts = agents.topic_texts(conversation)[1:]
    assert len(posts) == 3
    assert "".join(posts) == text


@pytest.mark.parametrize("title", ["x" * 300, ""])
def test_topic_names_stay_within_telegram_limits(client, agents, title):
    conversation = start(client, name=title[:128])
    agents.drain(conversation)
    name = agents.fake.topics(DEFAULT_CHAT_ID)[0]["name"]
    assert 1 <= len(name) <= 128


@pytest.mark.django_db(transaction=True)
def test_the_worker_holds_no_transaction_while_it_calls_telegram(client, agents, monkeypatch):
    """Every Bot API call of the worker (the drain's topic, header, pin, posts, edits, close;
    the answer to an agent's Claim) is made with the worker's connection outside any
    transaction, so no row lock waits on Telegram."""
    from django.db import connection
    from psycopg import pq

    from telegram_bridge import client as tg

    seen = []
    real_call = tg.BotClient.call

    def observed(self, method, **params):
        raw = connection.connection
        seen.append((method, connection.in_atomic_block, raw is not None and raw.info.transaction_status))
        return real_call(self, method, **params)

    monkeypatch.setattr(tg.BotClient, "call", observed)
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    visitor_says(conversation, "hello " * 1000)  # two parts
    agents.drain(conversation)
    agents.press_claim(conversation)
    agents.drain(conversation)
    with tenancy.tenant_context(conversation.tenant):
        services.conversation_close(conversation=conversation)
    agents.drain(conversation)
    methods = [method for method, _, _ in seen]
    assert {
        "createForumTopic",
        "sendMessage",
        "pinChatMessage",
        "answerCallbackQuery",
        "editForumTopic",
        "editMessageText",
        "closeForumTopic",
    } <= set(methods)
    assert methods.count("sendMessage") == 3
    assert all(not in_atomic and status == pq.TransactionStatus.IDLE for _, in_atomic, status in seen), seen
