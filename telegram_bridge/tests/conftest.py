"""The default tenant wired to a running fake Bot API, as v1 deployments configure it."""

import pytest
from django.test import Client, TestCase

from chatorical import tenancy
from chatorical.testing import forget_send_budgets
from conversations.outbox import drain_conversation
from telegram_bridge.models import TelegramTopic
from telegram_bridge.testing.fake_bot_api import FakeBotApi
from telegram_bridge.testing.fixtures import DEFAULT_BOT_ID, DEFAULT_BOT_TOKEN, DEFAULT_CHAT_ID, fake_bot_api  # noqa: F401
from telegram_bridge.updates import process_pending_updates

HEADER_SECRET = "header-secret-for-tests-0123456789abcdef"
WEBHOOK_SECRET = "path-secret-for-tests-0123456789abcdef"
AGENT = {"id": 4242, "is_bot": False, "first_name": "Grace", "username": "grace"}
OTHER_AGENT = {"id": 4343, "is_bot": False, "first_name": "Linus"}


def topic_of(conversation) -> TelegramTopic:
    """The conversation's topic record as the worker left it (an empty one before)."""
    with tenancy.tenant_context(conversation.tenant):
        found = TelegramTopic.objects.filter(conversation_id=conversation.pk).first()
    return found or TelegramTopic(conversation_id=conversation.pk, tenant_id=conversation.tenant_id)


@pytest.fixture
def telegram(fake_bot_api: FakeBotApi, settings, default_tenant):  # noqa: F811
    """Our own send budget is out of the way (the fake still enforces Telegram's limits);
    the tests of the budget set it back."""
    forget_send_budgets()
    settings.TELEGRAM_GROUP_POSTS_PER_MINUTE = 10**9
    settings.TELEGRAM_BOT_POSTS_PER_SECOND = 10**9
    settings.TELEGRAM_API_BASE = fake_bot_api.base_url
    settings.BOT_TOKEN = DEFAULT_BOT_TOKEN
    settings.SUPPORT_GROUP_ID = str(DEFAULT_CHAT_ID)
    settings.WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.TELEGRAM_HEADER_SECRET = HEADER_SECRET
    return fake_bot_api


class Agents:
    """Drives the bridge the way Telegram and the workers would, step by step."""

    def __init__(self, fake: FakeBotApi, tenant):
        self.fake = fake
        self.tenant = tenant
        self.client = Client()

    def send_update(self, update: dict, *, secret: str = HEADER_SECRET):
        # The webhook processes the update it stored; what that defers to its commit (the
        # answer to a Claim, the fan-out) runs as the request's own commit would run it.
        with TestCase.captureOnCommitCallbacks(execute=True):
            return self.client.post(
                "/v1/telegram/webhook",
                update,
                content_type="application/json",
                HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret,
            )

    def process_updates(self) -> int:
        # The test's transaction never commits: run what the worker defers to its commit
        # (the answer to a Claim) as the worker's own commit would.
        with tenancy.tenant_context(self.tenant), TestCase.captureOnCommitCallbacks(execute=True):
            return process_pending_updates(self.tenant)

    def say(self, conversation, text: str, user: dict = AGENT):
        update = self.fake.add_user_message(
            DEFAULT_CHAT_ID, text, thread_id=topic_of(conversation).thread_id, user=user
        )
        assert self.send_update(update).json() == {"ok": True}
        self.process_updates()
        return update

    def press_claim(self, conversation, user: dict = AGENT):
        update = self.fake.press_button(DEFAULT_CHAT_ID, topic_of(conversation).header_message_id, user=user)
        assert self.send_update(update).json() == {"ok": True}
        self.process_updates()
        return update

    def drain(self, conversation) -> int:
        with tenancy.tenant_context(self.tenant):
            return drain_conversation(conversation.pk)

    def topic_texts(self, conversation) -> list[str]:
        return [m["text"] for m in self.fake.messages(DEFAULT_CHAT_ID, thread_id=topic_of(conversation).thread_id)]


def processes_env(fake: FakeBotApi, **extra) -> dict:
    """The environment of daphne and worker processes that use `fake` as the default
    tenant's Bot API, our send budgets out of the way."""
    return {
        "TELEGRAM_API_BASE": fake.base_url,
        "BOT_TOKEN": DEFAULT_BOT_TOKEN,
        "SUPPORT_GROUP_ID": str(DEFAULT_CHAT_ID),
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_HEADER_SECRET": HEADER_SECRET,
        "TELEGRAM_GROUP_POSTS_PER_MINUTE": 10000,
        "TELEGRAM_BOT_POSTS_PER_SECOND": 10000,
        **extra,
    }


@pytest.fixture
def agents(telegram, default_tenant) -> Agents:
    return Agents(telegram, default_tenant)


__all__ = ["AGENT", "OTHER_AGENT", "DEFAULT_BOT_ID", "DEFAULT_CHAT_ID", "topic_of"]
