"""The project's one rate limiter: in Redis, atomic, shared by every process.

A check is one round trip: a Lua script (a sliding log plus an escalating penalty) runs by
EVALSHA on the limited key's two Redis keys and reads Redis' clock, so any number of daphne
and Celery processes share each limit exactly. A limit of N per period means what it says:
any window of that period holds at most N allowed requests, however they are spread (the
31st message within 10 s is refused). The log keeps the times of a key's last N allowed
requests, so a key costs memory in proportion to its limit (30 entries for a socket).

Limits and their defaults (`RATE_LIMIT_SCALE` multiplies every count):

    name                kind          default       penalty up to  when Redis does not answer
    conversation_start  ip            10 / minute   15 minutes     closed: 503 limiter_unavailable
    rename              conversation  3 / day       none           closed: 503 limiter_unavailable
    ws_message          socket        30 / 10 s     1 minute       closed: info_note limiter_unavailable
    ws_connect          ip            60 / minute   1 minute       open
    history             conversation  60 / minute   none           open
    token               ip            60 / minute   15 minutes     closed
                        conversation  20 / minute   15 minutes
    api_key             key           120 / minute  none           open  (more on plans pro, enterprise)
                        tenant        600 / minute  none
    webhook             tenant        600 / minute  none           open  (stops floods only)
    webhook_guess       ip            10 / minute   15 minutes     open  (failed webhook secrets only)
    ws_open             conversation  10 open       none           open  (sockets open at once, not a rate)
                        ip            100 open

Anonymous writes fail closed, so an outage cannot be used to flood; reads and
authenticated callers fail open, so an outage does not take the service down with it.

Answers: HTTP 429 with `Retry-After` (whole seconds, at least 1) and
`{"error": {"code": "rate_limited", "message": ...}}`. A refused WebSocket frame gets
`{"type": "info_note", "key": "rate_limited", "text": ...}`, is neither stored nor
forwarded, and the socket stays open.

Backoff: a refused client is told exactly when the limit has room again. One that comes
back before that, while still blocked, raises its key's penalty level and is told twice
the wait it was told last, at most the limit's penalty cap (`max_block`): so each such
retry doubles the wait. Each quiet `decay` (the period, unless a limit says
otherwise) after a block forgives one level. A socket that reaches ABUSE_LEVEL is closed
with code 4429. Limits used by several well-behaved clients at once (an integration's
workers, a visitor's tabs) have no penalty: it would make them block each other.

Configuration, later wins: the defaults above; for api_key, times the multiplier of the
tenant's plan (the billing app's Plan rows, through chatorical/plans.py); the tenant's
`rate_limits` JSON, e.g. `{"conversation_start": {"ip": {"limit": 20, "period": 60}}}`
(fields `limit`, and `period`, `max_block`, `decay` in seconds); then RATE_LIMIT_SCALE.
`TRUSTED_PROXIES` (default `127.0.0.1/32,::1/128`) says whose X-Forwarded-For is believed
for the client IP (chatorical/client_ip.py); IPv6 clients are limited per /64.

Redis: REDIS_URL (DB 3), keys `<REDIS_KEY_PREFIX>:rl:<tenant id>:<limit>:<kind>:<digest>`
(the log) and the same with `:penalty`, where the digest is a keyed hash of the value, so
Redis holds no raw IPs or API keys.
Commands time out after 0.5 s. An unreachable Redis is logged when it goes and when it
comes back, counted in `chatorical_rate_limiter_errors_total{limit}`, and fails the
`rate_limiter` check of /ready. Without REDIS_URL (embedded dev mode) limits are off.

Observability: `chatorical_rate_limited_total{tenant, limit}` counts refusals; logs name
the limit and the key kind (ip, conversation, socket, key, tenant), never the key itself.

Calling it:

    # an HTTP view: returns, or raises the 429/503 ApiError
    ratelimit.enforce(name="conversation_start", tenant=request.tenant, kind="ip", value=request_client_ip(request))
    # the WS consumer, with the asyncio client: a Decision to act on
    decision = await ratelimit.check_async(name="ws_message", tenant=tenant, kind="socket", value=channel_name)
    # still to be wired by the endpoints that need them
    ratelimit.enforce(name="token", tenant=tenant, kind="ip", value=request_client_ip(request))
    ratelimit.enforce(name="token", tenant=tenant, kind="conversation", value=str(conversation.id))
    ratelimit.enforce(name="api_key", tenant=tenant, kind="key", value=str(api_key.id))
    ratelimit.enforce(name="api_key", tenant=tenant, kind="tenant", value=str(tenant.id))
    ratelimit.enforce(name="webhook", tenant=tenant, kind="tenant", value=str(tenant.id))
    # a socket: a slot per conversation and per IP while it is open
    full_kind = await ratelimit.socket_slot_take(tenant=tenant, holder=channel_name, values={"ip": ip, ...})
    await ratelimit.socket_slot_give_back(holder=channel_name)
"""

import asyncio
import functools
import hashlib
import logging
import math
from dataclasses import dataclass, replace
from ipaddress import ip_address, ip_network

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.core.exceptions import ValidationError
from prometheus_client import Counter
from redis.exceptions import NoScriptError

from chatorical import plans, redis_urls, resilience
from chatorical.batching import Batcher, per_event_loop
from chatorical.errors import ApiError
from chatorical.metrics import tenant_label

logger = logging.getLogger(__name__)

MINUTE = 60
DAY = 24 * 3600

# The penalty level at which a client is treated as abusive: logged, and sockets closed.
ABUSE_LEVEL = 6

# A limiter that stalls requests would be worse than the floods it stops.
TIMEOUT_SECONDS = 0.5
_CONNECTION_OPTIONS = {
    "socket_connect_timeout": TIMEOUT_SECONDS,
    "socket_timeout": TIMEOUT_SECONDS,
    "timeout": TIMEOUT_SECONDS,  # waiting for a free connection of the pool
    "max_connections": 100,
    "health_check_interval": 30,
}


@dataclass(frozen=True)
class Rate:
    """`limit` per `period` seconds. A penalty block lasts at most `max_block` seconds (0: no
    penalty), and each quiet `decay` seconds after a block forgive one level (0: the period)."""

    limit: int
    period: float
    max_block: float = 15 * MINUTE
    decay: float = 0

    @property
    def decay_seconds(self) -> float:
        return self.decay or self.period


@dataclass(frozen=True)
class Limit:
    rates: dict[str, Rate]  # by key kind: ip, conversation, socket, key, tenant
    fail_open: bool  # what a check answers when Redis does not: allow, or refuse


LIMITS: dict[str, Limit] = {
    "conversation_start": Limit(rates={"ip": Rate(10, MINUTE)}, fail_open=False),
    "rename": Limit(rates={"conversation": Rate(3, DAY, max_block=0)}, fail_open=False),
    "ws_message": Limit(rates={"socket": Rate(30, 10, max_block=MINUTE)}, fail_open=False),
    "ws_connect": Limit(rates={"ip": Rate(60, MINUTE, max_block=MINUTE)}, fail_open=True),
    "history": Limit(rates={"conversation": Rate(60, MINUTE, max_block=0)}, fail_open=True),
    "token": Limit(rates={"ip": Rate(60, MINUTE), "conversation": Rate(20, MINUTE)}, fail_open=False),
    "api_key": Limit(
        rates={"key": Rate(120, MINUTE, max_block=0), "tenant": Rate(600, MINUTE, max_block=0)}, fail_open=True
    ),
    "webhook": Limit(rates={"tenant": Rate(600, MINUTE, max_block=0)}, fail_open=True),
    "webhook_guess": Limit(rates={"ip": Rate(10, MINUTE)}, fail_open=True),
    # Not a rate: how many sockets may be open at once (socket_slot_take); only `limit` applies.
    "ws_open": Limit(rates={"conversation": Rate(10, 0, max_block=0), "ip": Rate(100, 0, max_block=0)}, fail_open=True),
}
COUNT_LIMITS = frozenset({"ws_open"})

# The limits a plan multiplies (Plan.api_rate_multiplier); the others are the same on every plan.
PLAN_SCALED_LIMITS = frozenset({"api_key"})

RATE_LIMITED = Counter(
    "chatorical_rate_limited_total", "Requests and WebSocket frames refused by a rate limit.", ["tenant", "limit"]
)
LIMITER_ERRORS = Counter(
    "chatorical_rate_limiter_errors_total",
    "Rate-limit checks Redis did not answer; each failed open or closed as its limit says.",
    ["limit"],
)

# Limits: a sliding log. KEYS[1] is a list of the Redis times (µs) of the key's last
# `limit` allowed requests, newest first; KEYS[2] a hash of its penalty: level, until
# (when its block ends, µs) and block (the wait it was last told, µs). ARGV: limit, then
# period, max_block (0: no penalty) and decay in milliseconds. A request is allowed when
# the key is not blocked and the oldest of the last `limit` allowed ones is a whole period
# old: so any window of one period holds at most `limit` allowed requests, however they
# are spread. Pushing one and popping one keep each check O(1); the list holds at most
# `limit` entries.
# Returns {allowed (1 or 0), milliseconds until a retry can succeed, penalty level}.
_LIMIT_SCRIPT = """
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

# Budgets: GCRA (the generic cell rate algorithm), which spaces calls out evenly after a
# burst, as the other side's limits want. KEYS: one hash per budget holding tat (the
# theoretical arrival time, ms of Redis' clock), then any holds (hold()): keys that refuse
# them all while they live. ARGV: for each hash, burst and period (= burst x interval, ms).
# Returns {allowed (1 or 0), milliseconds until the first that refused, or is held, has
# room}; the hashes after a refusal are left alone.
_BUDGET_SCRIPT = """
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
    keys, args = _keys_and_args(name=name, tenant=tenant, kind=kind, value=value)
    try:
        result = _sync_script(settings.RATE_LIMIT_REDIS_URL, _LIMIT_SCRIPT)(keys=keys, args=args)
    except redis.RedisError as error:
        return _unavailable(name=name, error=error)
    return _decision(name=name, tenant=tenant, kind=kind, result=result)


async def check_async(*, name: str, tenant, kind: str, value: str) -> Decision:
    """check() on the asyncio client, for consumers. Checks made while others are on
    their way go to Redis together, in one pipeline."""
    if not settings.RATE_LIMIT_REDIS_URL:
        return Decision(allowed=True)
    keys, args = _keys_and_args(name=name, tenant=tenant, kind=kind, value=value)
    try:
        result = await _async_checks(settings.RATE_LIMIT_REDIS_URL).submit((keys, args))
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
        _sync_script(settings.RATE_LIMIT_REDIS_URL, _LIMIT_SCRIPT)(
            keys=[probe_key, f"{probe_key}:penalty"], args=[1, 1, 0, 1]
        )


def rate_for(*, name: str, tenant, kind: str) -> Rate:
    """The rate that applies: the default, then the tenant's plan, the tenant, and the scale."""
    rate = LIMITS[name].rates[kind]
    if name in PLAN_SCALED_LIMITS:
        rate = replace(rate, limit=round(rate.limit * plans.policy().api_rate_multiplier(tenant)))
    rate = replace(rate, **_tenant_override(tenant=tenant, name=name, kind=kind))
    return replace(rate, limit=max(1, round(rate.limit * settings.RATE_LIMIT_SCALE)))


_OVERRIDE_FIELDS = ("limit", "period", "max_block", "decay")


def validate_rate_limits(value) -> None:
    """Validator of Tenant.rate_limits: {limit name: {key kind: {field: number}}}."""
    if not isinstance(value, dict):
        raise ValidationError("Rate limits must be an object keyed by limit name.")
    for name, kinds in value.items():
        if name not in LIMITS:
            raise ValidationError(f"Unknown limit {name!r}; the limits are {', '.join(LIMITS)}.")
        if not isinstance(kinds, dict):
            raise ValidationError(f"Limit {name!r} must map key kinds to rates.")
        for kind, fields in kinds.items():
            if kind not in LIMITS[name].rates:
                raise ValidationError(f"Limit {name!r} has no {kind!r} rate; it has {', '.join(LIMITS[name].rates)}.")
            allowed_fields = ("limit",) if name in COUNT_LIMITS else _OVERRIDE_FIELDS
            if not isinstance(fields, dict) or not fields or not set(fields) <= set(allowed_fields):
                raise ValidationError(f"{name}.{kind} must set some of {', '.join(allowed_fields)}.")
            for field, number in fields.items():
                valid = isinstance(number, int) if field == "limit" else isinstance(number, (int, float))
                # 1 ms is the script's resolution; a max_block of 0 turns the penalty off.
                least = {"limit": 1, "max_block": 0}.get(field, 0.001)
                if isinstance(number, bool) or not valid or number < least:
                    raise ValidationError(f"{name}.{kind}.{field} must be a number of at least {least}.")


def _tenant_override(*, tenant, name: str, kind: str) -> dict:
    overrides = tenant.rate_limits or {}
    try:
        validate_rate_limits(overrides)
    except ValidationError as error:
        # Written past the model's validation; the defaults are safer than a 500 per request.
        logger.warning("tenant %s has invalid rate_limits (%s); using the defaults", tenant.slug, error.messages[0])
        return {}
    return overrides.get(name, {}).get(kind, {})


def _key(*, name: str, tenant, kind: str, value: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:rl:{tenant.id}:{name}:{kind}:{_digest(kind=kind, value=str(value))}"


def _keys_and_args(*, name: str, tenant, kind: str, value: str) -> tuple[list[str], list]:
    rate = rate_for(name=name, tenant=tenant, kind=kind)
    key = _key(name=name, tenant=tenant, kind=kind, value=value)
    args = [rate.limit, _ms(rate.period), round(rate.max_block * 1000), _ms(rate.decay_seconds)]
    return [key, f"{key}:penalty"], args


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _digest(*, kind: str, value: str) -> str:
    if kind == "ip":
        value = _ip_bucket(value)
    # Keyed with the project's secret: all 4 billion IPv4 addresses are quick to hash.
    secret = hashlib.sha256(settings.SECRET_KEY.encode()).digest()
    return hashlib.blake2b(value.encode(), key=secret, digest_size=16).hexdigest()


def _ip_bucket(ip: str) -> str:
    """IPv6 clients are limited per /64: a single subscriber usually holds a whole /64."""
    try:
        address = ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)


def _decision(*, name: str, tenant, kind: str, result) -> Decision:
    allowed, retry_after_ms, level = result
    _note_available()
    if allowed:
        return Decision(allowed=True, level=level)
    RATE_LIMITED.labels(tenant=tenant_label(tenant.slug), limit=name).inc()
    # One line when a key starts being refused and one when it turns abusive, not one per refusal.
    if level == 1:
        logger.info("rate limit %s refused a %s key of tenant %s", name, kind, tenant.slug)
    elif level == ABUSE_LEVEL:
        logger.warning("rate limit %s: a %s key of tenant %s keeps going while refused", name, kind, tenant.slug)
    return Decision(allowed=False, retry_after=retry_after_ms / 1000, level=level)


# This process's outage of the limiter's Redis: logged once, not per request, and counted
# in chatorical_backend_* {component="rate_limiter"} (chatorical/resilience.py).
_outage = resilience.Outage("rate_limiter")


def _unavailable(*, name: str, error: Exception) -> Decision:
    LIMITER_ERRORS.labels(limit=name).inc()
    if _outage.lost():
        logger.error(
            "rate limiter unavailable (%s: %s): limits fail open or closed as documented in chatorical/ratelimit.py",
            type(error).__name__,
            error,
        )
    return Decision(allowed=LIMITS[name].fail_open, unavailable=True)


def _note_available() -> None:
    if _outage.since is not None:
        logger.warning("rate limiter available again after %.0f s", _outage.ended())


@functools.lru_cache(maxsize=4)
def _sync_client(url: str) -> redis.Redis:
    return redis.Redis(connection_pool=redis_urls.sync_pool(url, db=settings.REDIS_DB, **_CONNECTION_OPTIONS))


@functools.lru_cache(maxsize=8)
def _sync_script(url: str, source: str):
    return _sync_client(url).register_script(source)


# Asyncio connections belong to the event loop that opened them: one per daphne process,
# one per test.
_async_checkers = per_event_loop(dict)
CHECK_BATCH_MAX = 200
# One batch at a time: checks that arrive meanwhile all go in the next round trip.
CHECK_BATCHES_IN_FLIGHT = 1


def _async_checks(url: str) -> Batcher:
    checkers = _async_checkers()
    if url not in checkers:
        pool = redis_urls.async_pool(url, db=settings.REDIS_DB, **_CONNECTION_OPTIONS)
        script = aioredis.Redis(connection_pool=pool).register_script(_LIMIT_SCRIPT)
        checkers[url] = Batcher(
            functools.partial(_run_checks, script), max_batch=CHECK_BATCH_MAX, max_in_flight=CHECK_BATCHES_IN_FLIGHT
        )
    return checkers[url]


async def _run_checks(script, checks: list[tuple[list[str], list]]) -> list:
    """Runs the script once per (keys, args) in one round trip. If Redis lost the script
    (restarted or flushed), it is loaded and only the checks it refused run again, so no
    check is counted twice."""
    client = script.registered_client
    results = await _evalsha_pipeline(client, script.sha, checks)
    lost = [index for index, result in enumerate(results) if isinstance(result, NoScriptError)]
    if lost:
        await client.script_load(_LIMIT_SCRIPT)
        retried = await _evalsha_pipeline(client, script.sha, [checks[index] for index in lost])
        for index, result in zip(lost, retried, strict=True):
            results[index] = result
    return results


async def _evalsha_pipeline(client, sha: str, checks: list[tuple[list[str], list]]) -> list:
    async with client.pipeline(transaction=False) as pipeline:
        for keys, args in checks:
            pipeline.evalsha(sha, len(keys), *keys, *args)
        return await pipeline.execute(raise_on_error=False)


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
        pool = redis_urls.async_pool(url, db=settings.REDIS_DB, **_CONNECTION_OPTIONS)
        self.client = aioredis.Redis(connection_pool=pool)
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
    keys = [_key(name="ws_open", tenant=tenant, kind=kind, value=values[kind]) for kind in kinds]
    limits = [rate_for(name="ws_open", tenant=tenant, kind=kind).limit for kind in kinds]
    try:
        full = await _slots(settings.RATE_LIMIT_REDIS_URL).take(holder=holder, keys=keys, limits=limits)
    except redis.RedisError as error:
        _unavailable(name="ws_open", error=error)
        return None
    _note_available()
    if full == 0:
        return None
    kind = kinds[full - 1]
    RATE_LIMITED.labels(tenant=tenant.slug, limit="ws_open").inc()
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


# Budgets of calls we make ourselves (Telegram's send limits) space calls out evenly
# (_BUDGET_SCRIPT, GCRA) and have no penalty: a refused reservation only learns when there
# is room, so callers that wait and retry are served in turn. They are not scaled by
# RATE_LIMIT_SCALE: the other side's limits do not move with ours. Like the limits, they
# are off without Redis.
#
# Never above the other side's limits, even across a Redis restart: while Redis does not
# answer, a reservation waits (the calls stay queued in the outbox); and when Redis comes
# back empty, the budgets' state of the last minute is gone, so the first reservation that
# finds no epoch mark holds every budget for the longest budget's period. Those that pass
# after it come no earlier than they would have from fully spent budgets, the most
# conservative state there is. (A first start ever, or an evicted mark, costs the same pause.)
BUDGET_UNAVAILABLE_WAIT_SECONDS = 1.0
_BUDGETS_FRESH_START = """
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
    script = _sync_script(settings.RATE_LIMIT_REDIS_URL, _BUDGET_SCRIPT)
    fresh_start = _sync_script(settings.RATE_LIMIT_REDIS_URL, _BUDGETS_FRESH_START)
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


def hold(*, budget: str, seconds: float) -> None:
    """Closes `budget` for `seconds` (the other side asked us to wait): reserve() refuses
    it until then, without taking from any budget."""
    if not settings.RATE_LIMIT_REDIS_URL:
        return
    client = _sync_client(settings.RATE_LIMIT_REDIS_URL)
    try:
        client.set(_hold_key(budget), 1, px=max(1, round(seconds * 1000)))
    except redis.RedisError as error:
        logger.warning("send budget %s cannot be held (%s)", budget, type(error).__name__)


def _budget_key(budget: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:budget:{budget}"


def _hold_key(budget: str) -> str:
    return f"{_budget_key(budget)}:hold"
