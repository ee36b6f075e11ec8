"""The `offline` note: right after the welcome, a visitor is told when no agent can get
their messages for now (the tenant has no bot, or its bot has a problem a human must fix)."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatorical import tenancy
from chatorical.asgi import application
from conversations.outbox import RetryLater
from conversations.tests.factories import conversation_for, token_for
from telegram_bridge.bridge import Bridge
from telegram_bridge.testing.fixtures import DEFAULT_BOT_TOKEN, DEFAULT_CHAT_ID, fake_bot_api  # noqa: F401
from templates_i18n import services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bot(settings, fake_bot_api, default_tenant):  # noqa: F811
    """The default tenant's bot, configured as v1 deployments do, against the fake Bot API."""
    settings.TELEGRAM_API_BASE = fake_bot_api.base_url
    settings.BOT_TOKEN = DEFAULT_BOT_TOKEN
    settings.SUPPORT_GROUP_ID = str(DEFAULT_CHAT_ID)
    return fake_bot_api


async def opening(tenant, *, locale=""):
    """The frames a new socket of a new conversation gets before any event."""

    def arrange():
        return token_for(conversation_for(tenant, visitor_name="Ada", locale=locale))

    socket = WebsocketCommunicator(application, f"/v1/ws?token={await database_sync_to_async(arrange)()}")
    connected, _ = await socket.connect()
    assert connected
    frames = [await socket.receive_json_from(timeout=5)]
    while not await socket.receive_nothing(timeout=0.3):
        frames.append(await socket.receive_json_from())
    await socket.disconnect()
    return frames


def create_topic(tenant):
    with tenancy.tenant_context(tenant):
        return Bridge.for_tenant(tenant).call("createForumTopic", chat_id=DEFAULT_CHAT_ID, name="Ada")


async def test_without_a_bot_the_welcome_is_followed_by_the_offline_note_in_the_visitors_language(
    default_tenant, settings
):
    settings.BOT_TOKEN = ""

    def german_offline():
        with tenancy.tenant_context(default_tenant):
            services.text_set(
                tenant=default_tenant, kind="template", key="offline", locale="de", text="{tenant} ist gerade offline."
            )

    await database_sync_to_async(german_offline)()
    welcome, offline = await opening(default_tenant, locale="de-AT")
    assert welcome["key"] == "welcome"
    assert offline == {"type": "info_note", "key": "offline", "text": "Default ist gerade offline."}


async def test_with_a_working_bot_there_is_no_offline_note(bot, default_tenant):
    assert [frame["key"] for frame in await opening(default_tenant)] == ["welcome"]


async def test_a_bot_problem_makes_it_offline_until_resolved(bot, default_tenant):
    bot.set_rights(DEFAULT_CHAT_ID, can_manage_topics=False)
    with pytest.raises(RetryLater):
        await database_sync_to_async(create_topic)(default_tenant)
    assert [frame["key"] for frame in await opening(default_tenant)] == ["welcome", "offline"]

    bot.set_rights(DEFAULT_CHAT_ID, can_manage_topics=True)
    await database_sync_to_async(create_topic)(default_tenant)
    assert [frame["key"] for frame in await opening(default_tenant)] == ["welcome"]
