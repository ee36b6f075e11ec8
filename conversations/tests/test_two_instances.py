"""The first milestone's proof: two real daphne processes, one conversation, one Redis.

A socket on each instance; after both have sat idle for over twice the channel layer's
socket timeout (a blocking read on its Redis connection would have timed out and dropped
them), a message sent on one instance arrives on the other, and nothing else does. The
servers' timeout is shortened from a minute to a few seconds, so the idle is too.
"""

import asyncio
import json

import httpx
import pytest
import websockets

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("default_tenant"), pytest.mark.processes]

LAYER_SOCKET_TIMEOUT_SECONDS = 3
IDLE_SECONDS = 2 * LAYER_SOCKET_TIMEOUT_SECONDS + 1


async def receive_json(socket):
    return json.loads(await asyncio.wait_for(socket.recv(), 5))


async def test_message_crosses_instances_after_an_idle_longer_than_the_layer_s_socket_timeout(start_server):
    first, second = (start_server(CHANNEL_LAYER_SOCKET_TIMEOUT=LAYER_SOCKET_TIMEOUT_SECONDS) for _ in range(2))
    async with httpx.AsyncClient() as client:
        started = (await client.post(f"{first.url}/v1/start", json={"name": "Ada"})).json()
    token = started["token"]
    async with (
        websockets.connect(f"{first.ws_url}/v1/ws?token={token}") as on_first,
        websockets.connect(f"{second.ws_url}/v1/ws?token={token}") as on_second,
    ):
        for socket in (on_first, on_second):
            # The default tenant has no bot here, so the welcome is followed by the offline note.
            assert [(await receive_json(socket))["key"] for _ in range(2)] == ["welcome", "offline"]

        await asyncio.sleep(IDLE_SECONDS)

        await on_first.send(json.dumps({"type": "message", "text": "after a long pause"}))
        expected = {"direction": "INBOUND", "text": "after a long pause"}
        assert await receive_json(on_second) == expected
        assert await receive_json(on_first) == expected

        await on_second.send(json.dumps({"type": "message", "text": "and back"}))
        assert await receive_json(on_first) == {"direction": "INBOUND", "text": "and back"}

    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{second.url}/v1/conversations/{started['conversation_id']}/messages",
            headers={"Authorization": f"Bearer {token}"},
        )
    history = response.json()
    assert [m["text"] for m in history["messages"]] == ["after a long pause", "and back"]
