"""chatorical.server: a stopping instance closes its sockets with 1012 so widgets reconnect elsewhere."""

import asyncio
import json

import httpx
import pytest
import websockets

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("default_tenant"), pytest.mark.processes]


async def test_sigterm_closes_open_sockets_with_service_restart_and_exits_cleanly(start_server):
    server = start_server()
    async with httpx.AsyncClient() as client:
        token = (await client.post(f"{server.url}/v1/start", json={"name": "Ada"})).json()["token"]
    async with (
        websockets.connect(f"{server.ws_url}/v1/ws?token={token}") as first,
        websockets.connect(f"{server.ws_url}/v1/ws?token={token}") as second,
    ):
        for socket in (first, second):
            assert json.loads(await asyncio.wait_for(socket.recv(), 10))["key"] == "welcome"

        server.process.terminate()

        for socket in (first, second):
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(socket.recv(), 10)
            assert socket.close_code == 1012
            assert socket.close_reason == "service restart"
    assert await asyncio.to_thread(server.process.wait, 15) == 0


def test_what_the_server_loaded_is_frozen_before_it_serves(monkeypatch):
    """Left out of the collector's full passes, which otherwise walk it every few seconds
    under load and pause the event loop for them."""
    import gc

    from daphne.server import Server

    from chatorical.server import GracefulServer

    frozen_when_serving = []
    monkeypatch.setattr(Server, "run", lambda self: frozen_when_serving.append(gc.get_freeze_count()))
    try:
        GracefulServer(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"]).run()
    finally:
        gc.unfreeze()
    assert frozen_when_serving and frozen_when_serving[0] > 10_000
