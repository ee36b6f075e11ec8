"""Budgets of calls we make ourselves (Telegram's send limits), in Redis.

Budgets space calls out evenly
(BUDGET_SCRIPT, GCRA) and have no penalty: a refused reservation only learns when there
is room, so callers that wait and retry are served in turn. They are not scaled by
RATE_LIMIT_SCALE: the other side's limits do not move with ours. Like the limits, they
are off without Redis.

Never above the other side's limits, even across a Redis restart: while Redis does not
answer, a reservation waits (the calls stay queued in the outbox); and when Redis comes
back empty, the budgets' state of the last minute is gone, so the first reservation that
finds no epoch mark holds every budget for the longest budget's period. Those that pass
after it come no earlier than they would have from fully spent budgets, the most
conservative state there is. (A first start ever, or an evicted mark, costs the same pause.)
"""

import logging
import math
from dataclasses import dataclass

import redis
from django.conf import settings

from chatorical.ratelimit import redis_state

logger = logging.getLogger(__name__)

# Budgets: GCRA (the generic cell rate algorithm), which spaces calls out evenly after a
# burst, as the other side's limits want. KEYS: one hash per budget holding tat (the
# theoretical arrival time, ms of Redis' clock), then any holds (hold()): keys that refuse
# them all while they live. ARGV: for each hash, burst and period (= burst x interval, ms).
# Returns {allowed (1 or 0), milliseconds until the first that refused, or is held, has
# room}; the hashes after a refusal are left alone.
BUDGET_SCRIPT = """
local hashes = #ARGV / 2
for i = hashes + 1, #KEYS do
  local held = redis.call('PTTL', KEYS[i])
  if held > 0 then
    return {0, held}
  end
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
for i = 1, hashes do
  local key, burst, period = KEYS[i], tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local interval = period / burst
  local tat = math.max(tonumber(redis.call('HGET', key, 'tat')) or now, now)
  -- How long until there is room for one more (the microsecond absorbs float rounding).
  local wait = tat + interval - now - period
  if wait > 0.001 then
    return {0, math.max(math.ceil(wait), 1)}
  end
  tat = tat + interval
  redis.call('HSET', key, 'tat', string.format('%.3f', tat))
  redis.call('PEXPIRE', key, math.max(math.ceil(tat - now), 1))
end
return {1, 0}
"""

BUDGET_UNAVAILABLE_WAIT_SECONDS = 1.0
BUDGETS_FRESH_START = """
if redis.call('SET', KEYS[1], 1, 'NX') then
  redis.call('SET', KEYS[2], 1, 'PX', ARGV[1])
end
return 0
"""


@dataclass(frozen=True)
class Budget:
    """At most `burst` calls back to back, then one every `interval_seconds`; so in any
    window of W seconds at most burst + W / interval_seconds calls pass."""

    name: str
    burst: int
    interval_seconds: float


def reserve(*, budgets: list[Budget]) -> float:
    """Takes one call from each budget, in one round trip: 0 when all are reserved, else
    seconds until the first that refuses, or is held, has room.

    A refusal stops there: the budgets before it keep the call they gave, so the one that
    refills fastest goes first.
    """
    if not settings.RATE_LIMIT_REDIS_URL:
        return 0.0
    keys, args = [], []
    for budget in budgets:
        keys.append(_budget_key(budget.name))
        args += [budget.burst, budget.burst * budget.interval_seconds * 1000]
    holds = [_hold_key(budget.name) for budget in budgets] + [_budget_key("restart-hold")]
    script = redis_state.sync_script(settings.RATE_LIMIT_REDIS_URL, BUDGET_SCRIPT)
    fresh_start = redis_state.sync_script(settings.RATE_LIMIT_REDIS_URL, BUDGETS_FRESH_START)
    longest_ms = max(budget.burst * budget.interval_seconds for budget in budgets) * 1000
    try:
        with script.registered_client.pipeline(transaction=False) as pipeline:
            fresh_start(keys=[_budget_key("epoch"), holds[-1]], args=[math.ceil(longest_ms)], client=pipeline)
            script(keys=keys + holds, args=args, client=pipeline)
            _, (allowed, retry_after_ms) = pipeline.execute()
    except redis.RedisError as error:
        names = ", ".join(budget.name for budget in budgets)
        logger.warning("send budgets %s unavailable (%s); holding the sends", names, type(error).__name__)
        return BUDGET_UNAVAILABLE_WAIT_SECONDS
    return 0.0 if allowed else retry_after_ms / 1000


# A budget's waiters: the key holds the time (ms of Redis' clock) of the last waiter's turn;
# a new waiter's turn is one interval after it, or the first free moment (now + wait) when
# the queue has emptied. Returns ms until the new waiter's turn.
QUEUE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local wait, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local turn = math.max(now + wait, (tonumber(redis.call('GET', KEYS[1])) or 0) + interval)
redis.call('SET', KEYS[1], string.format('%.3f', turn), 'PX', math.ceil(turn - now + interval))
return math.ceil(turn - now)
"""


def queue_turn(*, budget: Budget, wait: float) -> float:
    """Seconds until the turn of a caller that reserve() turned away with `wait`: the first
    waiter of `budget` waits `wait`, each one queued behind it one interval more, so the
    waiters do not all come back at once to find one call's room."""
    if not settings.RATE_LIMIT_REDIS_URL:
        return wait
    script = redis_state.sync_script(settings.RATE_LIMIT_REDIS_URL, QUEUE_SCRIPT)
    try:
        turn_ms = script(keys=[f"{_budget_key(budget.name)}:queue"], args=[wait * 1000, budget.interval_seconds * 1000])
    except redis.RedisError:
        return wait  # the queue only spreads the waiters: the budget still holds the calls back
    return turn_ms / 1000


def hold(*, budget: str, seconds: float) -> None:
    """Closes `budget` for `seconds` (the other side asked us to wait): reserve() refuses
    it until then, without taking from any budget."""
    if not settings.RATE_LIMIT_REDIS_URL:
        return
    client = redis_state.sync_client(settings.RATE_LIMIT_REDIS_URL)
    try:
        client.set(_hold_key(budget), 1, px=max(1, round(seconds * 1000)))
    except redis.RedisError as error:
        logger.warning("send budget %s cannot be held (%s)", budget, type(error).__name__)


def _budget_key(budget: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:budget:{budget}"


def _hold_key(budget: str) -> str:
    return f"{_budget_key(budget)}:hold"
