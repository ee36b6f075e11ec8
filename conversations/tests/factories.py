"""Builders for conversation rows, always through the services (so events are written too),
or through the widget's HTTP surface."""

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatorical import tenancy
from conversations import services
from conversations.models import Conversation, Message
from conversations.tokens import AUDIENCE_V2, token_epoch, token_issue


def conversation_for(tenant, **fields):
    with tenancy.tenant_context(tenant):
        return services.conversation_start(tenant=tenant, **fields)


def message_for(conversation, *, text="hello", direction=Message.Direction.INBOUND, agent_name=""):
    with tenancy.tenant_context(conversation.tenant):
        return services.message_add(conversation=conversation, direction=direction, text=text, agent_name=agent_name)


def token_for(conversation, *, ttl_seconds=3600):
    return token_issue(conversation=conversation, ttl_seconds=ttl_seconds)


async def widget_socket_and_key(tenant, *, key_name: str, scope: str):
    """A new conversation of `tenant`, its v1 widget socket connected and past the welcome
    and the offline note (no bot in these tests), and a raw API key holding `scope`."""
    from chatorical.asgi import application
    from tenants.services import api_key_create

    def arrange():
        conversation = conversation_for(tenant)
        issued = api_key_create(tenant=tenant, name=key_name, scopes=[scope])
        return conversation, token_for(conversation), issued.raw_key

    conversation, token, key = await database_sync_to_async(arrange)()
    socket = WebsocketCommunicator(application, f"/v1/ws?token={token}")
    connected, _ = await socket.connect()
    assert connected
    assert [(await socket.receive_json_from())["key"] for _ in range(2)] == ["welcome", "offline"]
    return conversation, socket, key


def v2_token_for(conversation, *, ttl_seconds=60):
    """A token of the v2 socket, as its token endpoint issues them."""
    return token_issue(conversation=conversation, ttl_seconds=ttl_seconds, audience=AUDIENCE_V2, epoch=token_epoch())


def rate_limits_set(tenant, **rate_limits):
    """Replaces the tenant's `rate_limits` overrides (chatorical/ratelimit/)."""
    tenant.rate_limits = rate_limits
    tenant.save(update_fields=["rate_limits"])


def start(client, **body):
    """A conversation started as the v1 widget starts one: POST /v1/start."""
    response = client.post("/v1/start", body, content_type="application/json")
    assert response.status_code == 201
    with tenancy.cross_tenant("test: look the new conversation up"):
        return Conversation.objects.get(pk=response.json()["conversation_id"])


def visitor_says(conversation, text):
    with tenancy.tenant_context(conversation.tenant):
        return services.message_add(conversation=conversation, direction=Message.Direction.INBOUND, text=text)
