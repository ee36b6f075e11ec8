"""Limits on what clients do: one Lua script run by EVALSHA per check, on Redis' clock."""

import asyncio
import hashlib
import logging
import math
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.exceptions import NoScriptError, ResponseError

from chatorical.batcher import Batcher, per_event_loop
from chatorical.errors import ApiError
from chatorical.ratelimit import redis_state
from chatorical.ratelimit.policy import ABUSE_LEVEL, limited_key, rate_for

logger = logging.getLogger(__name__)

# Limits: a sliding log. KEYS[1] is a list of the Redis times (µs) of the key's last
# `limit` allowed requests, newest first; KEYS[2] a hash of its penalty: level, until
# (when its block ends, µs) and block (the wait it was last told, µs). ARGV: limit, then
# period, max_block (0: no penalty) and decay in milliseconds. A request is allowed when
# the key is not blocked and the oldest of the last `limit` allowed ones is a whole period
# old: so any window of one period holds at most `limit` allowed requests, however they
# are spread. Pushing one and popping one keep each check O(1); the list holds at most
# `limit` entries.
# Returns {allowed (1 or 0), milliseconds until a retry can succeed, penalty level}.
LIMIT_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2]) * 1000
local max_block = tonumber(ARGV[3]) * 1000
local decay = tonumber(ARGV[4]) * 1000
local log, penalty = KEYS[1], KEYS[2]

local state = redis.call('HMGET', penalty, 'level', 'until', 'block')
local level = tonumber(state[1]) or 0
local blocked_until = tonumber(state[2]) or 0
local block = tonumber(state[3]) or 0
-- Each quiet decay period since the last block ended forgives one level.
if level > 0 and now >= blocked_until then
  local forgiven = math.min(level, math.floor((now - blocked_until) / decay))
  level = level - forgiven
  blocked_until = blocked_until + forgiven * decay
end

local count = redis.call('LLEN', log)
if count > limit then
  -- The limit was lowered since these were logged.
  redis.call('LTRIM', log, 0, limit - 1)
  count = limit
end
local wait = 0
if count == limit then
  wait = tonumber(redis.call('LINDEX', log, -1)) + period - now
end
local blocked = now < blocked_until
local allowed = not blocked and wait <= 0
local retry_after = 0
if allowed then
  -- Formatted by hand: Lua would write the number with 14 significant digits.
  redis.call('LPUSH', log, string.format('%.0f', now))
  if count == limit then
    redis.call('RPOP', log)
  end
  redis.call('PEXPIRE', log, math.ceil(period / 1000))
else
  -- The first refusal starts a penalty. Only a request that comes while still blocked,
  -- instead of waiting as it was told, raises it, and doubles the wait it was told.
  if blocked or level == 0 then
    level = math.min(level + 1, 32)
  end
  retry_after = math.max(wait, 0)
  if blocked and max_block > 0 then
    retry_after = math.max(retry_after, math.min(2 * block, max_block))
  end
  blocked_until = math.max(blocked_until, now + retry_after)
  block = retry_after
end

if level > 0 then
  redis.call('HSET', penalty, 'level', level, 'until', string.format('%.0f', blocked_until),
    'block', string.format('%.0f', block))
  redis.call('PEXPIRE', penalty, math.max(math.ceil((blocked_until - now + level * decay) / 1000), 1))
elseif state[1] then
  redis.call('DEL', penalty)
end
if allowed then
  return {1, 0, level}
end
return {0, math.max(math.ceil(retry_after / 1000), 1), level}
"""

LIMIT_SCRIPT_SHA = hashlib.sha1(LIMIT_SCRIPT.encode()).hexdigest()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds until a retry can succeed, when refused
    level: int = 0  # the key's penalty level; it grows while the client keeps going
    unavailable: bool = False  # Redis did not answer; `allowed` is the limit's failure direction

    @property
    def retry_after_seconds(self) -> int:
        """`retry_after` as the Retry-After header wants it: whole seconds, at least 1."""
        return max(1, math.ceil(self.retry_after))


def check(*, name: str, tenant, kind: str, value: str) -> Decision:
    """Counts one request of `kind` `value` against limit `name` of `tenant` (a Tenant)."""
    if not settings.RATE_LIMIT_REDIS_URL:
        return Decision(allowed=True)
    command = _evalsha(*_keys_and_args(name=name, tenant=tenant, kind=kind, value=value))
    try:
        result = _run_sync(settings.RATE_LIMIT_REDIS_URL, command)
    except redis.RedisError as error:
        return _unavailable(name=name, error=error)
    return _decision(name=name, tenant=tenant, kind=kind, result=result)


async def check_async(*, name: str, tenant, kind: str, value: str) -> Decision:
    """check() on the asyncio client, for consumers. Checks made while others are on
    their way go to Redis together, in one write."""
    if not settings.RATE_LIMIT_REDIS_URL:
        return Decision(allowed=True)
    command = _evalsha(*_keys_and_args(name=name, tenant=tenant, kind=kind, value=value))
    try:
        result = await _async_checks(settings.RATE_LIMIT_REDIS_URL).submit(command)
    except redis.RedisError as error:
        return _unavailable(name=name, error=error)
    return _decision(name=name, tenant=tenant, kind=kind, result=result)


def enforce(*, name: str, tenant, kind: str, value: str) -> None:
    """check() for HTTP views: returns when allowed, else raises the 429 or 503 ApiError."""
    decision = check(name=name, tenant=tenant, kind=kind, value=value)
    if decision.allowed:
        return
    if decision.unavailable:
        raise ApiError(503, "limiter_unavailable", "Rate limits cannot be checked right now; try again shortly.")
    seconds = decision.retry_after_seconds
    raise ApiError(429, "rate_limited", f"Too many requests; try again in {seconds} s.", {"Retry-After": str(seconds)})


def probe() -> None:
    """The /ready check: one script round trip on a probe key; raises if Redis does not answer."""
    if settings.RATE_LIMIT_REDIS_URL:
        probe_key = f"{settings.REDIS_KEY_PREFIX}:rl:ready-probe"
        _run_sync(settings.RATE_LIMIT_REDIS_URL, _evalsha([probe_key, f"{probe_key}:penalty"], [1, 1, 0, 1]))


def _keys_and_args(*, name: str, tenant, kind: str, value: str) -> tuple[list[str], list]:
    rate = rate_for(name=name, tenant=tenant, kind=kind)
    key = limited_key(name=name, tenant=tenant, kind=kind, value=value)
    args = [rate.limit, _ms(rate.period), round(rate.max_block * 1000), _ms(rate.decay_seconds)]
    return [key, f"{key}:penalty"], args


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


# A check is written to Redis as bytes packed here: redis-py's packer and its client's
# per-command bookkeeping cost more than the script takes to run (bench/limiter.py).
_EVALSHA_HEAD = b"*9\r\n$7\r\nEVALSHA\r\n$40\r\n" + LIMIT_SCRIPT_SHA.encode() + b"\r\n$1\r\n2\r\n"


def _evalsha(keys: list[str], args: list) -> bytes:
    """The EVALSHA command of one check, as Redis reads it (RESP): two keys, four args."""
    parts = [_EVALSHA_HEAD]
    for value in (*keys, *args):
        encoded = str(value).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(encoded), encoded))
    return b"".join(parts)


def _run_sync(url: str, command: bytes) -> list:
    """Runs one packed check on a connection of the pool; loads the script if Redis lost it."""
    pool = redis_state.sync_client(url).connection_pool
    connection = pool.get_connection()
    try:
        connection.send_packed_command([command])
        try:
            return connection.read_response()
        except NoScriptError:
            connection.send_command("SCRIPT", "LOAD", LIMIT_SCRIPT)
            connection.read_response()
            connection.send_packed_command([command])
            return connection.read_response()
    finally:  # a connection that timed out or broke was closed by read_response
        pool.release(connection)


def _decision(*, name: str, tenant, kind: str, result) -> Decision:
    allowed, retry_after_ms, level = result
    redis_state.available()
    if allowed:
        return Decision(allowed=True, level=level)
    redis_state.count_refusal(tenant=tenant, name=name)
    # One line when a key starts being refused and one when it turns abusive, not one per refusal.
    if level == 1:
        logger.info("rate limit %s refused a %s key of tenant %s", name, kind, tenant.slug)
    elif level == ABUSE_LEVEL:
        logger.warning("rate limit %s: a %s key of tenant %s keeps going while refused", name, kind, tenant.slug)
    return Decision(allowed=False, retry_after=retry_after_ms / 1000, level=level)


def _unavailable(*, name: str, error: Exception) -> Decision:
    return Decision(allowed=redis_state.unavailable(name=name, error=error), unavailable=True)


# Asyncio connections belong to the event loop that opened them: one per daphne process,
# one per test.
_async_checkers = per_event_loop(dict)
CHECK_BATCH_MAX = 200


class _AsyncChecks:
    """The checks of one event loop, one batch at a time (checks that arrive meanwhile all
    go in the next), on one connection of their own: a batch is written at once and its
    answers read in order, within one deadline. A connection taken from a pool per batch,
    a redis-py pipeline around it and a timer per read and per write cost as much again
    as the round trip (bench/limiter.py)."""

    def __init__(self, url: str):
        pool = redis_state.async_pool(url)
        # The deadline is the batch's (_run), not each read's and write's.
        self._connection = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
        self.batcher = Batcher(self._run, max_batch=CHECK_BATCH_MAX, max_in_flight=1)

    async def _run(self, checks: list[bytes]) -> list:
        try:
            async with asyncio.timeout(redis_state.TIMEOUT_SECONDS):
                return await self._run_on_time(checks)
        except TimeoutError as error:
            if isinstance(error, redis.RedisError):
                raise
            # Answers may still come: they must not be read as the next batch's.
            await self._connection.disconnect(nowait=True)
            raise redis.TimeoutError(f"no answer within {redis_state.TIMEOUT_SECONDS} s") from error

    async def _run_on_time(self, checks: list[bytes]) -> list:
        """Runs the script once per packed check. If Redis lost the script (restarted or
        flushed), it is loaded and only the checks it refused run again, so no check is
        counted twice."""
        results = await self._evalsha_all(checks)
        lost = [index for index, result in enumerate(results) if isinstance(result, NoScriptError)]
        if lost:
            await self._connection.send_command("SCRIPT", "LOAD", LIMIT_SCRIPT)
            await self._connection.read_response()
            retried = await self._evalsha_all([checks[index] for index in lost])
            for index, result in zip(lost, retried, strict=True):
                results[index] = result
        return results

    async def _evalsha_all(self, checks: list[bytes]) -> list:
        # A connection error raises (and the connection reconnects on next use); an error
        # reply is that check's result alone.
        connection = self._connection
        await connection.send_packed_command(checks)
        results = []
        for _ in checks:
            try:
                results.append(await connection.read_response())
            except ResponseError as error:
                results.append(error)
        return results


def _async_checks(url: str) -> Batcher:
    checkers = _async_checkers()
    if url not in checkers:
        checkers[url] = _AsyncChecks(url)
    return checkers[url].batcher
