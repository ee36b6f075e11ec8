"""A visitor writing from Austria gets the tenant's German welcome over the v1 socket."""

import pytest
from channels.testing import WebsocketCommunicator

from chatorical import tenancy
from chatorical.asgi import application
from templates_i18n import services

pytestmark = pytest.mark.django_db(transaction=True)


async def test_de_at_visitor_gets_the_de_welcome(default_tenant, async_client):
    from channels.db import database_sync_to_async

    def german_welcome():
        with tenancy.tenant_context(default_tenant):
            services.text_set(
                tenant=default_tenant, kind="template", key="welcome", locale="de", text="Willkommen bei {tenant}!"
            )

    await database_sync_to_async(german_welcome)()
    started = await async_client.post("/v1/start", {"locale": "de-AT"}, content_type="application/json")
    token = started.json()["token"]
    socket = WebsocketCommunicator(application, f"/v1/ws?token={token}")
    connected, _ = await socket.connect()
    assert connected
    assert await socket.receive_json_from() == {
        "type": "info_note",
        "key": "welcome",
        "text": "Willkommen bei Default!",
    }
    await socket.disconnect()
