"""Tokens cannot cross versions: a v2 socket token opens neither /v1/ws nor the v1 HTTP
endpoints, and a v1 token does not open /v2/ws. Each attack uses a token the other surface
issued over HTTP for the same (default) tenant's conversation."""

import jwt
import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings

from chatorical.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("default_tenant")]

SITE = "https://shop.example"


async def v1_start(async_client) -> dict:
    response = await async_client.post("/v1/start", {"name": "Ada"}, content_type="application/json")
    assert response.status_code == 201
    return response.json()


async def v2_token(async_client, conversation_id: str) -> str:
    response = await async_client.post(f"/v2/tenants/default/conversations/{conversation_id}/token")
    assert response.status_code == 200
    return response.json()["token"]


async def opens(path: str) -> bool:
    socket = WebsocketCommunicator(application, path, headers=[(b"origin", SITE.encode())])
    connected, _ = await socket.connect()
    await socket.disconnect()
    return connected


def audience(token: str) -> str:
    return jwt.decode(token, settings.CONVERSATION_JWT_SECRET, algorithms=["HS256"], options={"verify_aud": False})[
        "aud"
    ]


async def test_each_surface_issues_its_own_audience(async_client):
    started = await v1_start(async_client)
    assert audience(started["token"]) == "ws"
    assert audience(await v2_token(async_client, started["conversation_id"])) == "ws-v2"


async def test_a_v2_token_does_not_open_the_v1_socket(async_client):
    started = await v1_start(async_client)
    token = await v2_token(async_client, started["conversation_id"])
    assert not await opens(f"/v1/ws?token={token}")
    assert await opens(f"/v1/ws?token={started['token']}")  # the v1 token still does


async def test_a_v2_token_is_refused_by_the_v1_http_endpoints(async_client):
    started = await v1_start(async_client)
    token = await v2_token(async_client, started["conversation_id"])
    auth = {"Authorization": f"Bearer {token}"}
    history = await async_client.get(f"/v1/conversations/{started['conversation_id']}/messages", headers=auth)
    rename = await async_client.post(
        f"/v1/conversations/{started['conversation_id']}/rename",
        {"name": "Mallory"},
        content_type="application/json",
        headers=auth,
    )
    for response in (history, rename):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"


async def test_a_v1_token_does_not_open_the_v2_socket(async_client):
    started = await v1_start(async_client)
    assert not await opens(f"/v2/ws?token={started['token']}")
    assert await opens(f"/v2/ws?token={await v2_token(async_client, started['conversation_id'])}")
