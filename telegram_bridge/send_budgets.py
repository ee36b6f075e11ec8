"""Keeps every support group under Telegram's limits, across all workers.

Telegram allows about 20 messages a minute into one group (all its topics share that)
and about 30 a second per bot. Before each post a worker reserves a slot in both
budgets; without one it parks the conversation until a slot frees, so messages wait
instead of being refused, lost or reordered. A 429's retry_after pauses that chat only.

The conversations that wait for one group are spread over its coming slots, first come
first served (queue_wait), so they do not all wake at once to find one slot.
"""

import time

from django.conf import settings
from django.core.cache import cache

from chatorical import ratelimit

# Posts that may go back to back before the steady pace applies.
GROUP_BURST = 2
BOT_BURST = 3


def _group_budget(bot_id: str, chat_id: int) -> str:
    return f"tg:group:{bot_id}:{chat_id}"


def _pause_key(bot_id: str, chat_id: int) -> str:
    return f"tg:pause:{bot_id}:{chat_id}"


def pause_chat(*, bot_id: str, chat_id: int, seconds: float) -> None:
    if settings.RATE_LIMIT_REDIS_URL:
        ratelimit.hold(budget=_group_budget(bot_id, chat_id), seconds=seconds)
    else:
        # Without Redis (an embedded run) there are no budgets, but a 429 is still obeyed,
        # in the process's cache, where the worker that reserves its posts finds it.
        cache.set(_pause_key(bot_id, chat_id), time.time() + seconds, timeout=max(1, round(seconds + 1)))


def reserve_post(*, bot_id: str, chat_id: int) -> float:
    """Takes one post from the chat's and the bot's budgets; returns 0, or seconds to wait."""
    if not settings.RATE_LIMIT_REDIS_URL:
        paused_until = cache.get(_pause_key(bot_id, chat_id))
        return max(paused_until - time.time(), 0.0) if paused_until else 0.0
    # A burst plus a steady pace whose worst case in any minute (second) is the budget.
    # The bot's budget first: it refills within a second, so a refusal there wastes no
    # slot of the group's scarce one. A paused chat takes from neither.
    per_second = settings.TELEGRAM_BOT_POSTS_PER_SECOND
    return ratelimit.reserve(
        budgets=[
            ratelimit.Budget(name=f"tg:bot:{bot_id}", burst=BOT_BURST, interval_seconds=1 / (per_second - BOT_BURST)),
            _group_budget_spec(bot_id, chat_id),
        ]
    )


def _group_budget_spec(bot_id: str, chat_id: int) -> ratelimit.Budget:
    per_minute = settings.TELEGRAM_GROUP_POSTS_PER_MINUTE
    return ratelimit.Budget(
        name=_group_budget(bot_id, chat_id), burst=GROUP_BURST, interval_seconds=60 / (per_minute - GROUP_BURST)
    )


def queue_wait(*, bot_id: str, chat_id: int, wait: float) -> float:
    """How long a conversation that reserve_post turned away waits: the group's waiters
    take its coming slots in turn (ratelimit.queue_turn). A wait within the bot's budget
    (under a second) is not queued."""
    if wait < 1:
        return wait
    return ratelimit.queue_turn(budget=_group_budget_spec(bot_id, chat_id), wait=wait)
