"""Open sockets (the `ws_open` limit): not a rate, a count of what is open at once."""

import asyncio
import logging

import redis
import redis.asyncio as aioredis
from django.conf import settings

from chatorical.batcher import per_event_loop
from chatorical.ratelimit import redis_state
from chatorical.ratelimit.policy import limited_key, rate_for

logger = logging.getLogger(__name__)

# Open sockets (the `ws_open` limit): each open socket holds a slot per key kind, a lease
# in a Redis sorted set (member: the socket's holder id, score: when the lease ends, Redis'
# clock). Its process renews the leases of all its sockets together every third of a lease,
# so the slots of a process that died lapse within SOCKET_LEASE_SECONDS.
SOCKET_LEASE_SECONDS = 60

# KEYS: the sorted sets of the socket's kinds. ARGV: holder, lease (ms), then each key's
# limit. Drops lapsed leases; if every key has room, adds the holder to all of them and
# returns 0, else adds it to none and returns the (1-based) index of the first full key.
_SOCKET_TAKE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local holder, lease = ARGV[1], tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZSCORE', KEYS[i], holder) == false and redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[2 + i]) then
    return i
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + lease, holder)
  redis.call('PEXPIRE', KEYS[i], lease)
end
return 0
"""

# KEYS: sorted sets; ARGV: lease (ms), then the holder in each, in order. Renews the
# leases that have not lapsed (XX: a lapsed one is gone for good).
_SOCKET_RENEW_SCRIPT = """
local clock = redis.call('TIME')
local until_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) + tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', until_ms, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[1]))
end
return #KEYS
"""


class _SocketSlots:
    """The slots held by the sockets of one event loop (one daphne process), and the one
    task that renews them while any is held."""

    def __init__(self, url: str):
        self.client = aioredis.Redis(connection_pool=redis_state.async_pool(url))
        self.take_script = self.client.register_script(_SOCKET_TAKE_SCRIPT)
        self.renew_script = self.client.register_script(_SOCKET_RENEW_SCRIPT)
        self.held: dict[str, list[str]] = {}
        self.renewer: asyncio.Task | None = None

    async def take(self, *, holder: str, keys: list[str], limits: list[int]) -> int:
        full = await self.take_script(keys=keys, args=[holder, SOCKET_LEASE_SECONDS * 1000, *limits])
        if full == 0:
            self.held[holder] = keys
            if self.renewer is None:
                self.renewer = asyncio.create_task(self._renew_forever())
        return full

    async def give_back(self, *, holder: str) -> None:
        keys = self.held.pop(holder, None)
        if not self.held and self.renewer is not None:
            self.renewer.cancel()
            self.renewer = None
        if keys:
            async with self.client.pipeline(transaction=False) as pipeline:
                for key in keys:
                    pipeline.zrem(key, holder)
                await pipeline.execute()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(SOCKET_LEASE_SECONDS / 3)
            keys, holders = [], []
            for holder, held_keys in self.held.items():
                keys += held_keys
                holders += [holder] * len(held_keys)
            try:
                await self.renew_script(keys=keys, args=[SOCKET_LEASE_SECONDS * 1000, *holders])
            except redis.RedisError as error:
                # The next round tries again; leases outlive two missed rounds.
                logger.warning("open-socket leases not renewed (%s)", type(error).__name__)


_socket_slots = per_event_loop(dict)


def _slots(url: str) -> _SocketSlots:
    slots = _socket_slots()
    if url not in slots:
        slots[url] = _SocketSlots(url)
    return slots[url]


async def socket_slot_take(*, tenant, holder: str, values: dict[str, str]) -> str | None:
    """Takes an open-socket slot for `holder` (a socket's unique name) under each key kind
    of the `ws_open` limit, by `values` ({kind: value}), all or none, in one round trip.
    None when taken (or when Redis does not answer: this limit fails open), else the kind
    that is full."""
    if not settings.RATE_LIMIT_REDIS_URL:
        return None
    kinds = list(values)
    keys = [limited_key(name="ws_open", tenant=tenant, kind=kind, value=values[kind]) for kind in kinds]
    limits = [rate_for(name="ws_open", tenant=tenant, kind=kind).limit for kind in kinds]
    try:
        full = await _slots(settings.RATE_LIMIT_REDIS_URL).take(holder=holder, keys=keys, limits=limits)
    except redis.RedisError as error:
        redis_state.unavailable(name="ws_open", error=error)
        return None
    redis_state.available()
    if full == 0:
        return None
    kind = kinds[full - 1]
    redis_state.count_refusal(tenant=tenant, name="ws_open")
    logger.info("limit ws_open refused a socket: its %s has too many open", kind)
    return kind


async def socket_slot_give_back(*, holder: str) -> None:
    """Frees the slots socket_slot_take() gave `holder`, if any."""
    if not settings.RATE_LIMIT_REDIS_URL:
        return
    try:
        await _slots(settings.RATE_LIMIT_REDIS_URL).give_back(holder=holder)
    except redis.RedisError as error:
        # Its lease lapses by itself.
        logger.warning("open-socket slot not given back (%s)", type(error).__name__)
