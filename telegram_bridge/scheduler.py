"""Keeps every support group under Telegram's limits, across all workers.

Telegram allows about 20 messages a minute into one group (all its topics share that)
and about 30 a second per bot. Before each post a worker reserves a slot in both
budgets; without one it leaves the event pending until a slot frees, so messages wait
instead of being refused, lost or reordered. A 429's retry_after pauses that chat only.
"""

from django.conf import settings

from chatorical import ratelimit

# Posts that may go back to back before the steady pace applies.
GROUP_BURST = 2
BOT_BURST = 3


def _group_budget(bot_id: str, chat_id: int) -> str:
    return f"tg:group:{bot_id}:{chat_id}"


def pause_chat(*, bot_id: str, chat_id: int, seconds: float) -> None:
    ratelimit.hold(budget=_group_budget(bot_id, chat_id), seconds=seconds)


def reserve_post(*, bot_id: str, chat_id: int) -> float:
    """Takes one post from the chat's and the bot's budgets; returns 0, or seconds to wait."""
    # A burst plus a steady pace whose worst case in any minute (second) is the budget.
    # The bot's budget first: it refills within a second, so a refusal there wastes no
    # slot of the group's scarce one. A paused chat takes from neither.
    per_second = settings.TELEGRAM_BOT_POSTS_PER_SECOND
    per_minute = settings.TELEGRAM_GROUP_POSTS_PER_MINUTE
    return ratelimit.reserve(
        budgets=[
            ratelimit.Budget(name=f"tg:bot:{bot_id}", burst=BOT_BURST, interval_seconds=1 / (per_second - BOT_BURST)),
            ratelimit.Budget(
                name=_group_budget(bot_id, chat_id), burst=GROUP_BURST, interval_seconds=60 / (per_minute - GROUP_BURST)
            ),
        ]
    )
