"""The Bot API client against the fake server: Telegram's error envelope, understood."""

import pytest

from telegram_bridge import client as tg
from telegram_bridge.tests.conftest import DEFAULT_CHAT_ID


@pytest.fixture
def bot(telegram, settings):
    return tg.BotClient(settings.BOT_TOKEN)


def test_results_come_back_unwrapped(bot):
    topic = bot.call("createForumTopic", chat_id=DEFAULT_CHAT_ID, name="Hello")
    assert topic["name"] == "Hello" and topic["message_thread_id"] > 1


def test_none_parameters_are_left_out(bot, telegram):
    bot.call("sendMessage", chat_id=DEFAULT_CHAT_ID, text="hi", reply_markup=None)
    assert "reply_markup" not in telegram.calls("sendMessage")[0].params


def test_429_carries_retry_after(bot, telegram):
    telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", {"retry_after": 7})
    with pytest.raises(tg.RetryAfter) as error:
        bot.call("sendMessage", chat_id=DEFAULT_CHAT_ID, text="hi")
    assert error.value.seconds == 7


def test_deleted_topic_is_thread_not_found(bot, telegram):
    thread = bot.call("createForumTopic", chat_id=DEFAULT_CHAT_ID, name="T")["message_thread_id"]
    telegram.delete_topic(DEFAULT_CHAT_ID, thread)
    with pytest.raises(tg.ThreadNotFound):
        bot.call("sendMessage", chat_id=DEFAULT_CHAT_ID, message_thread_id=thread, text="hi")


def test_closed_topic(bot, telegram):
    thread = bot.call("createForumTopic", chat_id=DEFAULT_CHAT_ID, name="T")["message_thread_id"]
    telegram.close_topic(DEFAULT_CHAT_ID, thread)
    with pytest.raises(tg.TopicClosed):
        bot.call("sendMessage", chat_id=DEFAULT_CHAT_ID, message_thread_id=thread, text="hi")


def test_not_modified_is_success(bot):
    thread = bot.call("createForumTopic", chat_id=DEFAULT_CHAT_ID, name="Same")["message_thread_id"]
    assert bot.call("editForumTopic", chat_id=DEFAULT_CHAT_ID, message_thread_id=thread, name="Same") is True
    sent = bot.call("sendMessage", chat_id=DEFAULT_CHAT_ID, text="same text")
    assert bot.call("editMessageText", chat_id=DEFAULT_CHAT_ID, message_id=sent["message_id"], text="same text") is True


def test_missing_rights(bot, telegram):
    telegram.set_rights(DEFAULT_CHAT_ID, can_manage_topics=False)
    with pytest.raises(tg.MissingRights):
        bot.call("createForumTopic", chat_id=DEFAULT_CHAT_ID, name="T")


def test_kicked_bot(bot, telegram):
    telegram.kick_bot(DEFAULT_CHAT_ID)
    with pytest.raises(tg.BotRemoved):
        bot.call("sendMessage", chat_id=DEFAULT_CHAT_ID, text="hi")


def test_migrated_group_names_the_new_chat(bot, telegram):
    telegram.migrate_chat(-4001, -1004001)
    with pytest.raises(tg.ChatMigrated) as error:
        bot.call("sendMessage", chat_id=-4001, text="hi")
    assert error.value.new_chat_id == -1004001


def test_timeouts_and_5xx_are_unavailable(bot, telegram, settings):
    settings.TELEGRAM_TIMEOUT_SECONDS = 0.3
    tg._http_clients.clear()
    telegram.delay_next("sendMessage", 1.0)
    with pytest.raises(tg.Unavailable):
        bot.call("sendMessage", chat_id=DEFAULT_CHAT_ID, text="slow")
    tg._http_clients.clear()
    telegram.fail_next("sendMessage", 502, "Bad Gateway")
    with pytest.raises(tg.Unavailable):
        bot.call("sendMessage", chat_id=DEFAULT_CHAT_ID, text="hi")


def test_unknown_token_is_bot_removed(telegram):
    with pytest.raises(tg.BotRemoved):
        tg.BotClient("123456:revoked-token-aaaaaaaaaaaaaaaaaaaa").call("getMe")
