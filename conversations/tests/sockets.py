"""Widget sockets for the tests: the v1 and v2 sockets opened through the ASGI application,
and the v2 token taken over HTTP, as a widget does."""

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatorical.asgi import application
from conversations.tests.factories import token_for

A_SITE = "https://tenant-a.example"


def token_path(conversation_id, slug="tenant-a"):
    return f"/v2/tenants/{slug}/conversations/{conversation_id}/token"


async def token_over_http(async_client, conversation, slug="tenant-a"):
    response = await async_client.post(token_path(conversation.id, slug=slug), headers={"Origin": A_SITE})
    assert response.status_code == 200
    return response.json()["token"]


async def connect(token, *, origin=A_SITE, after_seq=None):
    """A v2 socket: the communicator, and whether the handshake was accepted."""
    path = f"/v2/ws?token={token}" + (f"&after_seq={after_seq}" if after_seq is not None else "")
    headers = [(b"origin", origin.encode())] if origin else []
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


async def receive_until_welcome(communicator) -> list[dict]:
    """The frames of the opening (the backlog) up to and without the welcome note."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        if frame.get("key") == "welcome":
            return frames
        frames.append(frame)


async def receive_event(communicator) -> dict:
    """The next event, past info notes the opening may add after the welcome (e.g. "offline")."""
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        if frame.get("type") != "info_note":
            return frame


async def v1_connect(conversation=None, *, token=None, headers=None):
    """A v1 socket: the communicator, and whether the handshake was accepted."""
    token = token if token is not None else await database_sync_to_async(token_for)(conversation)
    communicator = WebsocketCommunicator(application, f"/v1/ws?token={token}", headers=headers or [])
    connected, _ = await communicator.connect()
    return communicator, connected


async def v1_connect_and_skip_opening(conversation):
    """Connected, past the welcome and the offline note (the tests configure no bot)."""
    communicator, connected = await v1_connect(conversation)
    assert connected
    assert [(await communicator.receive_json_from())["key"] for _ in range(2)] == ["welcome", "offline"]
    return communicator


async def v1_open_from(conversation, *, forwarded_for="203.0.113.60"):
    """A connected v1 socket from the client address `forwarded_for`, as our proxy tells it."""
    token = await database_sync_to_async(token_for)(conversation)
    # The communicator's scope has no peer address, like a Unix socket behind our proxy.
    socket = WebsocketCommunicator(
        application, f"/v1/ws?token={token}", headers=[(b"x-forwarded-for", forwarded_for.encode())]
    )
    connected, _ = await socket.connect()
    assert connected
    return socket
