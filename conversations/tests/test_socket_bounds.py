"""Bounded sockets: over-long frames are refused unparsed, and a conversation or an address
holds at most so many open sockets (the `ws_open` limit), on the real Redis."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.exceptions import ValidationError

from chatorical import ratelimit
from chatorical.asgi import application
from chatorical.ratelimit import sockets as socket_slots
from conversations import consumers
from conversations.tests.factories import conversation_for, rate_limits_set, v2_token_for
from conversations.tests.sockets import v1_open_from
from tenants.models import Tenant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("default_tenant")]


async def opening_keys(socket) -> list[str]:
    """The keys of the info notes a socket got first ("message" for a message); its close,
    if it was closed."""
    keys = []
    while not await socket.receive_nothing(timeout=0.3):
        output = await socket.receive_output()
        if output["type"] == "websocket.close":
            keys.append(f"closed {output['code']}")
            break
        keys.append(json.loads(output["text"]).get("key", "message"))
    return keys


@pytest.fixture
def conversation(default_tenant):
    return conversation_for(default_tenant, visitor_name="Ada")


# --- frames ------------------------------------------------------------------------------


async def test_a_frame_too_long_for_any_message_is_refused_unparsed_and_the_socket_stays(conversation, monkeypatch):
    parsed = []
    real_loads = json.loads

    def recording_loads(text, *args, **kwargs):
        parsed.append(len(text))
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(consumers.json, "loads", recording_loads)
    socket = await v1_open_from(conversation)
    assert await opening_keys(socket) == ["welcome", "offline"]
    huge = json.dumps({"type": "message", "text": "x" * settings.WS_FRAME_MAX_CHARS})
    await socket.send_to(text_data=huge)
    note = await socket.receive_json_from(timeout=3)
    assert note["type"] == "info_note" and note["key"] == "text_too_long" and note["text"]
    assert len(huge) not in parsed
    await socket.send_json_to({"type": "message", "text": "still here"})
    assert await socket.receive_json_from(timeout=3) == {"direction": "INBOUND", "text": "still here"}
    await socket.disconnect()


async def test_the_longest_message_in_its_most_escaped_form_is_still_parsed(conversation):
    socket = await v1_open_from(conversation)
    await opening_keys(socket)
    # Every character a control character: JSON writes each as six (\u0001).
    text = "\x01" * settings.MESSAGE_MAX_CHARS
    await socket.send_to(text_data=json.dumps({"type": "message", "text": text}))
    assert await socket.receive_json_from(timeout=5) == {"direction": "INBOUND", "text": text}
    await socket.disconnect()


# --- open sockets ------------------------------------------------------------------------


async def test_a_conversation_holds_at_most_its_limit_of_open_sockets(default_tenant, conversation):
    await database_sync_to_async(rate_limits_set)(default_tenant, ws_open={"conversation": {"limit": 2}})
    sockets = [await v1_open_from(conversation, forwarded_for=f"203.0.113.{n}") for n in (81, 82)]
    for socket in sockets:
        assert await opening_keys(socket) == ["welcome", "offline"]
    refused = await v1_open_from(conversation, forwarded_for="203.0.113.83")
    assert await opening_keys(refused) == ["too_many_sockets", "closed 4409"]
    # Its frames go nowhere.
    await sockets[0].disconnect()
    again = await v1_open_from(conversation, forwarded_for="203.0.113.83")
    assert await opening_keys(again) == ["welcome", "offline"]
    await asyncio.gather(sockets[1].disconnect(), again.disconnect())


async def test_an_address_holds_at_most_its_limit_of_open_sockets_across_conversations(default_tenant):
    await database_sync_to_async(rate_limits_set)(default_tenant, ws_open={"ip": {"limit": 2}})
    conversations = [
        await database_sync_to_async(conversation_for)(default_tenant, visitor_name=f"V{n}") for n in range(3)
    ]
    sockets = [await v1_open_from(conversation, forwarded_for="198.51.100.9") for conversation in conversations[:2]]
    refused = await v1_open_from(conversations[2], forwarded_for="198.51.100.9")
    assert await opening_keys(refused) == ["too_many_sockets", "closed 4409"]
    other_address = await v1_open_from(conversations[2], forwarded_for="198.51.100.10")
    assert await opening_keys(other_address) == ["welcome", "offline"]
    await asyncio.gather(*(socket.disconnect() for socket in [*sockets, other_address]))


async def test_the_defaults_are_ten_per_conversation_and_a_hundred_per_address(default_tenant, settings):
    settings.RATE_LIMIT_SCALE = 1.0
    rates = {
        kind: ratelimit.rate_for(name="ws_open", tenant=default_tenant, kind=kind).limit
        for kind in ("conversation", "ip")
    }
    assert rates == {"conversation": 10, "ip": 100}


def test_only_the_count_of_open_sockets_can_be_configured():
    field = Tenant._meta.get_field("rate_limits")
    field.run_validators({"ws_open": {"conversation": {"limit": 3}}})
    with pytest.raises(ValidationError, match="must set some of limit"):
        field.run_validators({"ws_open": {"conversation": {"period": 3}}})


async def test_cross_tenant_one_tenants_open_sockets_do_not_count_for_another(tenant_a, tenant_b):
    for world in (tenant_a, tenant_b):
        await database_sync_to_async(rate_limits_set)(world.tenant, ws_open={"ip": {"limit": 1}})

    async def open_v2(world):
        token = await database_sync_to_async(v2_token_for)(world.conversation)
        origin = f"https://{world.tenant.slug}.example"
        socket = WebsocketCommunicator(
            application,
            f"/v2/ws?token={token}",
            headers=[(b"origin", origin.encode()), (b"x-forwarded-for", b"192.0.2.44")],
        )
        assert (await socket.connect())[0]
        return socket

    first_a, first_b = await open_v2(tenant_a), await open_v2(tenant_b)
    assert "closed 4409" not in await opening_keys(first_a)
    assert "closed 4409" not in await opening_keys(first_b)
    second_a = await open_v2(tenant_a)
    assert (await opening_keys(second_a))[-1] == "closed 4409"
    await asyncio.gather(first_a.disconnect(), first_b.disconnect())


async def test_slots_of_a_process_that_died_lapse_and_live_ones_are_renewed(default_tenant, monkeypatch):
    monkeypatch.setattr(socket_slots, "SOCKET_LEASE_SECONDS", 0.6)
    await database_sync_to_async(rate_limits_set)(default_tenant, ws_open={"conversation": {"limit": 1}})
    values = {"conversation": "c-lease"}
    assert await ratelimit.socket_slot_take(tenant=default_tenant, holder="alive", values=values) is None
    await asyncio.sleep(1.5)  # two and a half leases: only renewal keeps it
    assert await ratelimit.socket_slot_take(tenant=default_tenant, holder="other", values=values) == "conversation"

    # The process dies: nothing renews or gives back its slot, which lapses.
    slots = socket_slots._slots(settings.RATE_LIMIT_REDIS_URL)
    slots.renewer.cancel()
    slots.renewer = None
    slots.held.clear()
    await asyncio.sleep(0.7)
    assert await ratelimit.socket_slot_take(tenant=default_tenant, holder="other", values=values) is None
    await ratelimit.socket_slot_give_back(holder="other")
