"""The send budgets and the pause after a 429, in Redis."""

import time

import pytest

from chatorical import ratelimit
from chatorical.testing import forget_send_budgets
from telegram_bridge import send_budgets


def test_a_paused_chat_waits_without_spending_its_budgets(telegram, settings):
    settings.TELEGRAM_GROUP_POSTS_PER_MINUTE = 19
    send_budgets.pause_chat(bot_id="1", chat_id=-100, seconds=0.3)
    assert 0 < send_budgets.reserve_post(bot_id="1", chat_id=-100) <= 0.3
    assert send_budgets.reserve_post(bot_id="1", chat_id=-200) == 0, "another chat of the bot is not paused"
    time.sleep(0.35)
    assert send_budgets.reserve_post(bot_id="1", chat_id=-100) == 0
    assert send_budgets.reserve_post(bot_id="1", chat_id=-100) == 0, "the burst is still whole"
    assert 3 < send_budgets.reserve_post(bot_id="1", chat_id=-100) < 60 / 17 + 0.01, "then one post every 60/17 s"


def test_a_post_the_bot_budget_refuses_takes_nothing_from_the_groups(telegram, settings):
    settings.TELEGRAM_BOT_POSTS_PER_SECOND = 4  # a burst of 3, then one a second
    settings.TELEGRAM_GROUP_POSTS_PER_MINUTE = 19  # a burst of 2, then one every 60/17 s
    assert [send_budgets.reserve_post(bot_id="1", chat_id=-100) for _ in range(2)] == [0, 0]
    assert send_budgets.reserve_post(bot_id="1", chat_id=-200) == 0
    assert 0 < send_budgets.reserve_post(bot_id="1", chat_id=-200) <= 1, "the bot's budget is spent"
    time.sleep(1)
    assert send_budgets.reserve_post(bot_id="1", chat_id=-200) == 0, "the group's burst kept its second post"


def test_without_the_limiter_s_redis_a_429_still_pauses_the_chat(settings):
    """An embedded run has no budgets, but Telegram's retry_after is still obeyed."""
    settings.RATE_LIMIT_REDIS_URL = ""
    assert send_budgets.reserve_post(bot_id="1", chat_id=-100) == 0
    send_budgets.pause_chat(bot_id="1", chat_id=-100, seconds=0.3)
    assert 0 < send_budgets.reserve_post(bot_id="1", chat_id=-100) <= 0.3
    assert send_budgets.reserve_post(bot_id="1", chat_id=-200) == 0, "another chat of the bot is not paused"
    time.sleep(0.35)
    assert send_budgets.reserve_post(bot_id="1", chat_id=-100) == 0


def test_after_redis_comes_back_empty_the_budgets_start_spent(telegram, settings):
    settings.TELEGRAM_GROUP_POSTS_PER_MINUTE = 19  # a burst of 2, then one every 60/17 s
    forget_send_budgets(as_after_a_restart=True)
    wait = send_budgets.reserve_post(bot_id="1", chat_id=-100)
    # Held for the group budget's whole period (its burst's worth of pace), never less:
    # the posts of the minute before the restart may have spent it.
    group_period = 2 * 60 / 17
    assert group_period - 0.2 < wait <= group_period + 0.01
    assert 0 < send_budgets.reserve_post(bot_id="1", chat_id=-200) <= group_period + 0.01, "every chat waits"


def test_a_budget_whose_redis_does_not_answer_holds_the_send(telegram, settings):
    settings.RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/3"
    assert send_budgets.reserve_post(bot_id="1", chat_id=-100) == ratelimit.BUDGET_UNAVAILABLE_WAIT_SECONDS


def test_conversations_turned_away_by_a_group_take_its_coming_slots_in_turn(telegram, settings):
    """A hundred conversations that find the group's budget spent must not all come back
    at the same moment to find room for one post: each waits one interval more."""
    settings.TELEGRAM_GROUP_POSTS_PER_MINUTE = 19  # then one post every 60/17 s
    interval = 60 / 17
    waits = [send_budgets.queue_wait(bot_id="1", chat_id=-100, wait=2.0) for _ in range(3)]
    assert 1.9 < waits[0] <= 2.0
    assert waits[1] - waits[0] == pytest.approx(interval, abs=0.05)
    assert waits[2] - waits[1] == pytest.approx(interval, abs=0.05)
    assert 1.9 < send_budgets.queue_wait(bot_id="1", chat_id=-200, wait=2.0) <= 2.0, "another group has its own"
    assert send_budgets.queue_wait(bot_id="1", chat_id=-100, wait=0.5) == 0.5, "the bot's budget is not queued"
