"""pytest fixture for the fake Telegram Bot API.

Use it from a test module or a conftest with::

    from telegram_bridge.testing.fixtures import fake_bot_api  # noqa: F401

It needs no database and no Django settings. Pointing the bot client at
``fake_bot_api.base_url`` (TELEGRAM_API_BASE) is left to the caller.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from telegram_bridge.testing.fake_bot_api import FakeBotApi

# A token shaped like a real one: "<bot id>:<secret>".
DEFAULT_BOT_TOKEN = "7000000001:AAFakeTokenForTestsOnly-0123456789abc"
DEFAULT_BOT_ID = 7000000001
DEFAULT_BOT_USERNAME = "chatorical_test_bot"
# Supergroup ids are -100 followed by the channel id: 64-bit on purpose.
DEFAULT_CHAT_ID = -1001234567890
DEFAULT_CHAT_TITLE = "Chatorical Support"


@pytest.fixture
def fake_bot_api() -> Iterator[FakeBotApi]:
    """A running fake with one bot (DEFAULT_BOT_TOKEN) that is an admin with all rights
    in one forum supergroup (DEFAULT_CHAT_ID); real rate limits, real clock."""
    with FakeBotApi() as fake:
        fake.add_bot(DEFAULT_BOT_TOKEN, username=DEFAULT_BOT_USERNAME, bot_id=DEFAULT_BOT_ID)
        fake.add_supergroup(DEFAULT_CHAT_ID, title=DEFAULT_CHAT_TITLE, forum=True)
        yield fake
