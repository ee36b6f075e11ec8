"""Sockets when the channel layer comes back from an outage, and single-use tokens when
Redis comes back empty: through /v1/ws, /v2/ws and the token endpoint."""

import signal

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache

from chatorical import channel_layer, tenancy
from conversations import realtime, services
from conversations.consumers import SERVICE_RESTART_CLOSE_CODE
from conversations.models import Message
from conversations.tests.factories import conversation_for
from conversations.tests.sockets import (
    A_SITE,
    connect,
    receive_event,
    receive_until_welcome,
    token_over_http,
    token_path,
    v1_connect_and_skip_opening,
)
from conversations.tokens import AUDIENCE_V2, EPOCH_KEY, token_decode

pytestmark = pytest.mark.django_db(transaction=True)


def stored_without_fan_out(conversation, text: str) -> Message:
    """A message whose broadcast was lost: stored while the channel layer was away."""
    with tenancy.tenant_context(conversation.tenant):
        [message] = services.messages_add(
            messages=[
                services.NewMessage(
                    conversation=conversation, direction=Message.Direction.OUTBOUND, text=text, agent_name="Grace"
                )
            ],
            fan_out=False,
        )
    return message


async def layer_resumed(conversation):
    """What the channel layer tells its local channels once Redis answers again."""
    await get_channel_layer().group_send(realtime.conversation_group(conversation.id), channel_layer.RESUMED_MESSAGE)


async def test_a_v2_socket_catches_up_in_place_on_what_the_outage_swallowed(async_client, tenant_a):
    socket, connected = await connect(await token_over_http(async_client, tenant_a.conversation))
    assert connected
    backlog = await receive_until_welcome(socket)
    missed = await database_sync_to_async(stored_without_fan_out)(tenant_a.conversation, "while you were away")

    await layer_resumed(tenant_a.conversation)

    frame = await receive_event(socket)
    assert frame["text"] == "while you were away" and frame["seq"] == missed.seq == backlog[-1]["seq"] + 1
    # The conversation is not claimed, so no agent_joined; and nothing already shown comes again.
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_a_v1_socket_is_closed_with_service_restart_so_the_widget_fetches_history(default_tenant):
    conversation = await database_sync_to_async(conversation_for)(default_tenant, visitor_name="Ada")
    socket = await v1_connect_and_skip_opening(conversation)

    await layer_resumed(conversation)

    assert await socket.receive_output(timeout=10) == {"type": "websocket.close", "code": SERVICE_RESTART_CLOSE_CODE}


async def test_a_long_outage_closes_the_sockets_with_service_restart(async_client, tenant_a):
    socket, connected = await connect(await token_over_http(async_client, tenant_a.conversation))
    assert connected
    await receive_until_welcome(socket)
    assert (await socket.receive_json_from(timeout=5))["key"] == "offline"  # no bot in these tests

    await get_channel_layer().group_send(
        realtime.conversation_group(tenant_a.conversation.id), channel_layer.LOST_MESSAGE
    )

    assert await socket.receive_output(timeout=10) == {"type": "websocket.close", "code": SERVICE_RESTART_CLOSE_CODE}


async def test_a_token_spent_before_redis_came_back_empty_cannot_be_replayed(async_client, tenant_a):
    token = await token_over_http(async_client, tenant_a.conversation)
    first, connected = await connect(token)
    assert connected
    await first.disconnect()

    # Redis restarted empty: the epoch and the token's spent mark are gone. Only these keys:
    # the tests on the other worker share this Redis (a flush took their socket slots too).
    claims = token_decode(token, audience=AUDIENCE_V2)
    await database_sync_to_async(cache.delete_many)([EPOCH_KEY, f"jti:{claims.jti}"])

    _, replayed = await connect(token)
    assert not replayed, "the token is of the Redis before the restart"
    fresh, connected = await connect(await token_over_http(async_client, tenant_a.conversation))
    assert connected, "a token fetched after the restart opens the socket"
    await fresh.disconnect()


def test_no_token_is_issued_while_redis_is_away(client, tenant_a, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/3",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2, "IGNORE_EXCEPTIONS": True},
        }
    }
    settings.RATE_LIMIT_SCALE = 1000  # the limiter has its own Redis; this test is about the token's
    response = client.post(token_path(tenant_a.conversation.id), HTTP_ORIGIN=A_SITE)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "token_unavailable"


async def test_a_v1_socket_opened_while_redis_is_away_is_accepted_and_later_told(
    default_tenant, private_redis, settings
):
    """Refused at the handshake, a v1 widget would forget its conversation."""
    layer_config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatorical.channel_layer.BatchedPublishChannelLayer",
            "CONFIG": {**layer_config, "hosts": [{"address": private_redis.url, "socket_connect_timeout": 0.5}]},
        }
    }
    conversation = await database_sync_to_async(conversation_for)(default_tenant, visitor_name="Ada")
    private_redis.stop(signal.SIGKILL)

    socket = await v1_connect_and_skip_opening(conversation)
    private_redis.start()

    assert await socket.receive_output(timeout=10) == {"type": "websocket.close", "code": SERVICE_RESTART_CLOSE_CODE}
