"""chatorical.server answers the permessage-deflate offer every browser makes without the
extension: no socket holds zlib state (README, Idle sockets)."""

import asyncio
import json

import httpx
import pytest
import websockets

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("default_tenant"), pytest.mark.processes]


async def test_a_deflate_offer_is_answered_without_compression(start_server):
    server = start_server()
    async with httpx.AsyncClient() as client:
        token = (await client.post(f"{server.url}/v1/start", json={"name": "Ada"})).json()["token"]
    async with websockets.connect(f"{server.ws_url}/v1/ws?token={token}", compression="deflate") as socket:
        assert "permessage-deflate" in socket.request.headers["Sec-WebSocket-Extensions"]
        assert "Sec-WebSocket-Extensions" not in socket.response.headers
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["key"] == "welcome"
