"""The v1 socket through its public surface, on the real Redis channel layer."""

import asyncio
import contextlib

import jwt
import psycopg
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.db import connection

from chatorical import tenancy
from conversations import consumers, message_batches, realtime, services
from conversations.models import Message
from conversations.tests.factories import conversation_for
from conversations.tests.sockets import v1_connect, v1_connect_and_skip_opening

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("default_tenant")]

WELCOME_KEYS = {"type", "key", "text"}


def test_the_channel_layer_is_redis():
    assert isinstance(get_channel_layer(), RedisPubSubChannelLayer)


@pytest.fixture
def conversation(default_tenant):
    return conversation_for(default_tenant, visitor_name="Ada")


async def test_connect_sends_the_welcome_note(conversation):
    communicator, connected = await v1_connect(conversation)
    assert connected
    welcome = await communicator.receive_json_from()
    assert set(welcome) == WELCOME_KEYS
    assert welcome["type"] == "info_note" and welcome["key"] == "welcome" and welcome["text"]
    await communicator.disconnect()


async def test_visitor_message_is_stored_and_echoed_in_the_v1_shape(conversation):
    first = await v1_connect_and_skip_opening(conversation)
    second = await v1_connect_and_skip_opening(conversation)
    await first.send_json_to({"type": "message", "text": "Hello there"})
    for socket in (first, second):
        assert await socket.receive_json_from(timeout=3) == {"direction": "INBOUND", "text": "Hello there"}

    def stored():
        with tenancy.tenant_context(conversation.tenant):
            return list(Message.objects.filter(conversation=conversation).values_list("direction", "text", "seq"))

    assert await database_sync_to_async(stored)() == [("INBOUND", "Hello there", 1)]
    await first.disconnect()
    await second.disconnect()


async def test_messages_sent_at_once_from_many_sockets_are_each_stored_once_in_order(default_tenant):
    """Sent together, they are stored in batches (conversations/message_batches.py): each socket
    still sees exactly its own messages, and each conversation's seqs follow the send order."""
    conversations = [
        await database_sync_to_async(conversation_for)(default_tenant, visitor_name=f"V{i}") for i in range(8)
    ]
    sockets = [await v1_connect_and_skip_opening(conversation) for conversation in conversations]
    await asyncio.gather(
        *(
            socket.send_json_to({"type": "message", "text": f"{i}-{n}"})
            for n in range(3)
            for i, socket in enumerate(sockets)
        )
    )
    for i, socket in enumerate(sockets):
        texts = [(await socket.receive_json_from(timeout=5))["text"] for _ in range(3)]
        assert texts == [f"{i}-{n}" for n in range(3)]

    def stored():
        with tenancy.tenant_context(default_tenant):
            return {
                c.visitor_name: list(Message.objects.filter(conversation=c).order_by("seq").values_list("seq", "text"))
                for c in conversations
            }

    assert await database_sync_to_async(stored)() == {
        f"V{i}": [(n + 1, f"{i}-{n}") for n in range(3)] for i in range(8)
    }
    for socket in sockets:
        await socket.disconnect()


@contextlib.asynccontextmanager
async def locked_elsewhere(conversation):
    """Another process holds the conversation's row (a long transaction) until the block ends."""
    database = connection.settings_dict
    async with await psycopg.AsyncConnection.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"], dbname=database["NAME"]
    ) as elsewhere:
        await elsewhere.execute("SELECT 1 FROM conversations_conversation WHERE id = %s FOR UPDATE", [conversation.id])
        yield
        await elsewhere.rollback()


def stored_texts(conversation) -> list[str]:
    with tenancy.tenant_context(conversation.tenant):
        return list(Message.objects.filter(conversation=conversation).order_by("seq").values_list("text", flat=True))


async def test_a_conversation_locked_elsewhere_holds_up_its_own_messages_only(default_tenant):
    """That socket's message waits for the lock, while other sockets' messages are stored
    and echoed meanwhile."""
    stuck, free = [
        await database_sync_to_async(conversation_for)(default_tenant, visitor_name=name) for name in ("S", "F")
    ]
    stuck_socket, free_socket = [await v1_connect_and_skip_opening(c) for c in (stuck, free)]
    async with locked_elsewhere(stuck):
        await stuck_socket.send_json_to({"type": "message", "text": "waits"})
        await asyncio.sleep(0.2)  # its batch is running, stuck on the lock
        for n in range(3):
            await free_socket.send_json_to({"type": "message", "text": f"goes {n}"})
            assert (await free_socket.receive_json_from(timeout=3))["text"] == f"goes {n}"
        assert await stuck_socket.receive_nothing(timeout=0.2)
    assert (await stuck_socket.receive_json_from(timeout=5))["text"] == "waits"
    for socket in (stuck_socket, free_socket):
        await socket.disconnect()


async def test_a_message_being_stored_holds_up_none_of_the_sockets_events(conversation):
    """A socket's frames are handled beside its events: while its message waits for the
    store, the agent joining still reaches it."""
    socket = await v1_connect_and_skip_opening(conversation)
    async with locked_elsewhere(conversation):
        await socket.send_json_to({"type": "message", "text": "waits"})
        await asyncio.sleep(0.2)  # stuck on the lock
        await get_channel_layer().group_send(
            realtime.conversation_group(conversation.id),
            realtime.group_message(realtime.agent_joined_event(agent="Bo")),
        )
        assert (await socket.receive_json_from(timeout=3))["type"] == "agent_joined"
    assert (await socket.receive_json_from(timeout=5))["text"] == "waits"
    await socket.disconnect()


async def test_frames_sent_while_one_is_stored_are_stored_and_answered_in_the_order_sent(conversation):
    """More frames than a socket handles at once, two bad ones among them, sent while the
    first waits for the store: the messages are stored and echoed in the order sent, and
    the notes come in the order of their frames. (An echo comes back through the channel
    layer, so a note may overtake it, as it always could.)"""
    texts = [f"m{n}" for n in range(consumers.FRAMES_IN_FLIGHT + 4)]
    socket = await v1_connect_and_skip_opening(conversation)
    async with locked_elsewhere(conversation):
        await socket.send_json_to({"type": "message", "text": texts[0]})
        await asyncio.sleep(0.2)  # stuck on the lock
        await socket.send_to(text_data="{not json")
        for text in texts[1:5]:
            await socket.send_json_to({"type": "message", "text": text})
        await socket.send_to(bytes_data=b"binary")
        for text in texts[5:]:
            await socket.send_json_to({"type": "message", "text": text})
        assert await socket.receive_nothing(timeout=0.2)
    answers = [await socket.receive_json_from(timeout=5) for _ in range(len(texts) + 2)]
    assert [answer["text"] for answer in answers if "direction" in answer] == texts
    assert [answer["key"] for answer in answers if "direction" not in answer] == [
        "error_invalid_json",
        "error_binary_frame",
    ]
    assert await database_sync_to_async(stored_texts)(conversation) == texts
    await socket.disconnect()


async def test_frames_in_flight_when_the_visitor_leaves_are_stored(conversation):
    socket = await v1_connect_and_skip_opening(conversation)
    async with locked_elsewhere(conversation):
        for n in range(3):
            await socket.send_json_to({"type": "message", "text": f"left {n}"})
        await asyncio.sleep(0.2)
        await socket.disconnect()
    for _ in range(50):
        if len(await database_sync_to_async(stored_texts)(conversation)) == 3:
            break
        await asyncio.sleep(0.1)
    assert await database_sync_to_async(stored_texts)(conversation) == ["left 0", "left 1", "left 2"]


async def test_a_lone_surrogate_is_refused_alone_and_spoils_no_batch(default_tenant):
    """psycopg cannot send a lone surrogate: were it let through, the whole batch it came
    in with would fail, and every socket with a message in it would lose that message."""
    conversations = [
        await database_sync_to_async(conversation_for)(default_tenant, visitor_name=f"V{i}") for i in range(3)
    ]
    spoiler, *others = [await v1_connect_and_skip_opening(conversation) for conversation in conversations]
    await asyncio.gather(
        spoiler.send_to(text_data='{"type": "message", "text": "\\ud800"}'),
        *(socket.send_json_to({"type": "message", "text": f"fine {i}"}) for i, socket in enumerate(others)),
    )
    refusal = await spoiler.receive_json_from(timeout=5)
    assert (refusal["type"], refusal["key"]) == ("info_note", "error_invalid_text")
    for i, socket in enumerate(others):
        assert (await socket.receive_json_from(timeout=5))["text"] == f"fine {i}"
    await spoiler.send_json_to({"type": "message", "text": "still here"})
    assert (await spoiler.receive_json_from(timeout=5))["text"] == "still here"
    for socket in (spoiler, *others):
        await socket.disconnect()


async def test_agent_events_arrive_in_exact_v1_shapes(conversation):
    socket = await v1_connect_and_skip_opening(conversation)

    def agent_side():
        with tenancy.tenant_context(conversation.tenant):
            services.conversation_claim(conversation=conversation, agent_id=5, agent_name="Bob")
            services.message_add(
                conversation=conversation, direction="OUTBOUND", text="How can I help?", agent_name="Bob"
            )
            services.conversation_close(conversation=conversation)

    await database_sync_to_async(agent_side)()
    assert await socket.receive_json_from(timeout=3) == {"type": "agent_joined", "agent": "Bob"}
    assert await socket.receive_json_from(timeout=3) == {
        "direction": "OUTBOUND",
        "text": "How can I help?",
        "agent": "Bob",
    }
    assert await socket.receive_json_from(timeout=3) == {"type": "conversation_closed"}
    assert (await socket.receive_output(timeout=3))["type"] == "websocket.close"


async def test_agent_joined_leaves_out_a_missing_name(conversation):
    socket = await v1_connect_and_skip_opening(conversation)

    def claim():
        with tenancy.tenant_context(conversation.tenant):
            services.conversation_claim(conversation=conversation, agent_id=5, agent_name="")

    await database_sync_to_async(claim)()
    assert await socket.receive_json_from(timeout=3) == {"type": "agent_joined"}
    await socket.disconnect()


@pytest.mark.parametrize(
    "frame, key",
    [
        ('{"type": "message", "text": ""}', "error_empty_text"),
        ('{"type": "message"}', "error_empty_text"),
        ('{"type": "message", "text": "a\\u0000b"}', "error_invalid_text"),
        ('{"type": "typing"}', "error_unknown_frame"),
        ("[1, 2]", "error_unknown_frame"),
        ("not json", "error_invalid_json"),
    ],
)
async def test_bad_frames_get_an_error_note_and_the_socket_stays_open(conversation, frame, key):
    socket = await v1_connect_and_skip_opening(conversation)
    await socket.send_to(text_data=frame)
    note = await socket.receive_json_from(timeout=3)
    assert note["type"] == "info_note" and note["key"] == key and note["text"]
    await socket.send_json_to({"type": "message", "text": "still here"})
    assert await socket.receive_json_from(timeout=3) == {"direction": "INBOUND", "text": "still here"}
    await socket.disconnect()


async def test_oversized_text_is_refused_and_not_stored(conversation):
    socket = await v1_connect_and_skip_opening(conversation)
    await socket.send_json_to({"type": "message", "text": "x" * (settings.MESSAGE_MAX_CHARS + 1)})
    note = await socket.receive_json_from(timeout=3)
    assert note["key"] == "error_text_too_long"
    await socket.disconnect()

    def count():
        with tenancy.tenant_context(conversation.tenant):
            return Message.objects.count()

    assert await database_sync_to_async(count)() == 0


async def test_binary_frames_are_refused(conversation):
    socket = await v1_connect_and_skip_opening(conversation)
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await socket.receive_json_from(timeout=3))["key"] == "error_binary_frame"
    await socket.disconnect()


def _signed(claims, secret=None):
    return jwt.encode(claims, secret or settings.CONVERSATION_JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize("case", ["forged", "expired", "wrong_audience", "missing", "garbage"])
async def test_bad_tokens_are_refused_at_the_handshake(conversation, case):
    base = {"tid": conversation.tenant_id, "cid": str(conversation.id), "aud": "ws", "iat": 1, "exp": 2**40, "jti": "j"}
    tokens = {
        "forged": _signed(base, "some-other-secret-of-sufficient-length!"),
        "expired": _signed({**base, "exp": 10}),
        "wrong_audience": _signed({**base, "aud": "api"}),
        "missing": "",
        "garbage": "a.b.c",
    }
    _, connected = await v1_connect(token=tokens[case])
    assert not connected


async def test_other_tenants_token_is_refused_on_v1(other_tenant):
    theirs = await database_sync_to_async(conversation_for)(other_tenant)
    _, connected = await v1_connect(theirs)
    assert not connected


async def test_closed_conversation_is_refused(conversation):
    def close():
        with tenancy.tenant_context(conversation.tenant):
            services.conversation_close(conversation=conversation)

    await database_sync_to_async(close)()
    _, connected = await v1_connect(conversation)
    assert not connected


async def test_origin_allowlist_when_configured(conversation, settings):
    settings.WIDGET_ALLOWED_ORIGINS = ["https://shop.example"]
    _, refused = await v1_connect(conversation, headers=[(b"origin", b"https://evil.example")])
    allowed, connected = await v1_connect(conversation, headers=[(b"origin", b"https://shop.example")])
    assert not refused and connected
    await allowed.disconnect()


async def test_events_of_one_conversation_do_not_reach_another(default_tenant, conversation):
    other = await database_sync_to_async(conversation_for)(default_tenant)
    mine, theirs = await v1_connect_and_skip_opening(conversation), await v1_connect_and_skip_opening(other)
    await mine.send_json_to({"type": "message", "text": "private"})
    assert (await mine.receive_json_from(timeout=3))["text"] == "private"
    assert await theirs.receive_nothing(timeout=0.5)
    await asyncio.gather(mine.disconnect(), theirs.disconnect())


async def test_a_frame_that_fails_unexpectedly_closes_its_socket_with_4012_and_is_logged(
    conversation, monkeypatch, caplog
):
    """The widget reconnects on 4012 and catches up from the database (v1: the history)."""

    def broken(**kwargs):
        raise RuntimeError("a bug")

    socket = await v1_connect_and_skip_opening(conversation)
    monkeypatch.setattr(message_batches, "message_add", broken)
    await socket.send_json_to({"type": "message", "text": "hello"})
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4012}
    assert "a socket frame failed" in caplog.text and "RuntimeError: a bug" in caplog.text
