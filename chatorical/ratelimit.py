"""The project's one rate limiter: in Redis, atomic, shared by every process.

A check is one round trip: a Lua script (GCRA, the generic cell rate algorithm, plus an
escalating penalty) runs by EVALSHA on one Redis hash per limited key and reads Redis'
clock, so any number of daphne and Celery processes share each limit exactly. A limit of
N per period allows a burst of N, then one more every period/N.

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

Anonymous writes fail closed, so an outage cannot be used to flood; reads and
authenticated callers fail open, so an outage does not take the service down with it.

Answers: HTTP 429 with `Retry-After` (whole seconds, at least 1) and
`{"error": {"code": "rate_limited", "message": ...}}`. A refused WebSocket frame gets
`{"type": "info_note", "key": "rate_limited", "text": ...}`, is neither stored nor
forwarded, and the socket stays open.

Backoff: a refused client is told exactly when the limit has room again. One that comes
back before that, while still blocked, raises its key's penalty level, and the block
becomes period/N x 2^(level-1) from then, at most the limit's penalty cap (`max_block`),
so each such retry doubles the wait. Each quiet `decay` (the period, unless a limit says
otherwise) after a block forgives one level. A socket that reaches ABUSE_LEVEL is closed
with code 4429. Limits used by several well-behaved clients at once (an integration's
workers, a visitor's tabs) have no penalty: it would make them block each other.

Configuration, later wins: the defaults above; PLAN_RATES by `Tenant.plan`; the tenant's
`rate_limits` JSON, e.g. `{"conversation_start": {"ip": {"limit": 20, "period": 60}}}`
(fields `limit`, and `period`, `max_block`, `decay` in seconds); then RATE_LIMIT_SCALE.
`TRUSTED_PROXIES` (default `127.0.0.1/32,::1/128`) says whose X-Forwarded-For is believed
for the client IP (chatorical/client_ip.py); IPv6 clients are limited per /64.

Redis: REDIS_URL (DB 3), keys `<REDIS_KEY_PREFIX>:rl:<tenant id>:<limit>:<kind>:<digest>`
where the digest is a keyed hash of the value, so Redis holds no raw IPs or API keys.
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
"""

import functools
import hashlib
import logging
import math
import time
from dataclasses import dataclass, replace
from ipaddress import ip_address, ip_network

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.core.exceptions import ValidationError
from prometheus_client import Counter
from redis.exceptions import NoScriptError

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
}

# Rates that differ by plan, keyed by Tenant.plan, then limit name, then key kind.
PLAN_RATES: dict[str, dict[str, dict[str, Rate]]] = {
    "pro": {"api_key": {"key": Rate(600, MINUTE, max_block=0), "tenant": Rate(3000, MINUTE, max_block=0)}},
    "enterprise": {"api_key": {"key": Rate(3000, MINUTE, max_block=0), "tenant": Rate(15000, MINUTE, max_block=0)}},
}

RATE_LIMITED = Counter(
    "chatorical_rate_limited_total", "Requests and WebSocket frames refused by a rate limit.", ["tenant", "limit"]
)
LIMITER_ERRORS = Counter(
    "chatorical_rate_limiter_errors_total",
    "Rate-limit checks Redis did not answer; each failed open or closed as its limit says.",
    ["limit"],
)

# KEYS: one hash per limited key, taken in order, each holding tat (GCRA's theoretical
# arrival time), level (of the penalty) and until (when its block ends) in milliseconds of
# Redis' clock; then any holds (hold()): keys that refuse them all while they live.
# ARGV: for each hash, limit, period, max_block (0: no penalty), decay; the last three in
# milliseconds. Checks pass one key and no hold; reserve() passes several of each.
# Returns {allowed (1 or 0), milliseconds until a retry can succeed, penalty level} of the
# first hash that refused, else of the last; the hashes after a refusal are left alone.
_SCRIPT = """
local hashes = #ARGV / 4
for i = hashes + 1, #KEYS do
  local held = redis.call('PTTL', KEYS[i])
  if held > 0 then
    return {0, held, 0}
  end
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000

local function take(key, limit, period, max_block, decay)
  local interval = period / limit

  local state = redis.call('HMGET', key, 'tat', 'level', 'until')
  local tat = math.max(tonumber(state[1]) or now, now)
  local level = tonumber(state[2]) or 0
  local blocked_until = tonumber(state[3]) or 0

  -- Each quiet decay period since the last block ended forgives one level.
  if level > 0 and now >= blocked_until then
    local forgiven = math.min(level, math.floor((now - blocked_until) / decay))
    level = level - forgiven
    blocked_until = blocked_until + forgiven * decay
  end

  -- How long until GCRA has room for one more (the microsecond absorbs float rounding).
  local wait = tat + interval - now - period
  local blocked = now < blocked_until
  local allowed = not blocked and wait <= 0.001
  local retry_after = 0
  if allowed then
    tat = tat + interval
  else
    -- The first refusal starts a penalty. Only a request that comes while still blocked,
    -- instead of waiting as it was told, raises it, and each level doubles the block.
    if blocked or level == 0 then
      level = math.min(level + 1, 32)
    end
    retry_after = math.max(wait, 0)
    if blocked and max_block > 0 then
      retry_after = math.max(retry_after, math.min(interval * 2 ^ (level - 1), max_block))
    end
    blocked_until = math.max(blocked_until, now + retry_after)
  end

  -- Formatted by hand: Lua would turn the numbers into strings of 14 significant digits.
  redis.call('HSET', key, 'tat', string.format('%.3f', tat), 'level', level,
    'until', string.format('%.3f', blocked_until))
  local ttl = math.max(tat - now, blocked_until - now + level * decay, 1)
  redis.call('PEXPIRE', key, math.ceil(ttl))
  if allowed then
    return {1, 0, level}
  end
  return {0, math.max(math.ceil(retry_after), 1), level}
end

local result
for i = 1, hashes do
  local at = (i - 1) * 4
  result = take(KEYS[i], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4]))
  if result[1] == 0 then
    return result
  end
end
return result
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
    key, args = _key_and_args(name=name, tenant=tenant, kind=kind, value=value)
    try:
        result = _sync_script(settings.RATE_LIMIT_REDIS_URL)(keys=[key], args=args)
    except redis.RedisError as error:
        return _unavailable(name=name, error=error)
    return _decision(name=name, tenant=tenant, kind=kind, result=result)


async def check_async(*, name: str, tenant, kind: str, value: str) -> Decision:
    """check() on the asyncio client, for consumers. Checks made while others are on
    their way go to Redis together, in one pipeline."""
    if not settings.RATE_LIMIT_REDIS_URL:
        return Decision(allowed=True)
    key, args = _key_and_args(name=name, tenant=tenant, kind=kind, value=value)
    try:
        result = await _async_checks(settings.RATE_LIMIT_REDIS_URL).submit((key, args))
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
        _sync_script(settings.RATE_LIMIT_REDIS_URL)(
            keys=[f"{settings.REDIS_KEY_PREFIX}:rl:ready-probe"], args=[1_000_000, 1000, 1000, 1000]
        )


def rate_for(*, name: str, tenant, kind: str) -> Rate:
    """The rate that applies: the default, then the tenant's plan, the tenant, and the scale."""
    rate = PLAN_RATES.get(tenant.plan, {}).get(name, {}).get(kind) or LIMITS[name].rates[kind]
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
            if not isinstance(fields, dict) or not fields or not set(fields) <= set(_OVERRIDE_FIELDS):
                raise ValidationError(f"{name}.{kind} must set some of {', '.join(_OVERRIDE_FIELDS)}.")
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


def _key_and_args(*, name: str, tenant, kind: str, value: str) -> tuple[str, list]:
    rate = rate_for(name=name, tenant=tenant, kind=kind)
    key = f"{settings.REDIS_KEY_PREFIX}:rl:{tenant.id}:{name}:{kind}:{_digest(kind=kind, value=str(value))}"
    return key, [rate.limit, _ms(rate.period), round(rate.max_block * 1000), _ms(rate.decay_seconds)]


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


# When this process last found Redis unreachable: an outage is logged once, not per request.
_down_since: float | None = None


def _unavailable(*, name: str, error: Exception) -> Decision:
    global _down_since
    LIMITER_ERRORS.labels(limit=name).inc()
    if _down_since is None:
        _down_since = time.monotonic()
        logger.error(
            "rate limiter unavailable (%s: %s): limits fail open or closed as documented in chatorical/ratelimit.py",
            type(error).__name__,
            error,
        )
    return Decision(allowed=LIMITS[name].fail_open, unavailable=True)


def _note_available() -> None:
    global _down_since
    if _down_since is not None:
        logger.warning("rate limiter available again after %.0f s", time.monotonic() - _down_since)
        _down_since = None


@functools.lru_cache(maxsize=4)
def _sync_script(url: str):
    pool = redis.BlockingConnectionPool.from_url(url, **_CONNECTION_OPTIONS)
    return redis.Redis(connection_pool=pool).register_script(_SCRIPT)


# Asyncio connections belong to the event loop that opened them: one per daphne process,
# one per test.
_async_checkers = per_event_loop(dict)
CHECK_BATCH_MAX = 200
# One batch at a time: checks that arrive meanwhile all go in the next round trip.
CHECK_BATCHES_IN_FLIGHT = 1


def _async_checks(url: str) -> Batcher:
    checkers = _async_checkers()
    if url not in checkers:
        pool = aioredis.BlockingConnectionPool.from_url(url, **_CONNECTION_OPTIONS)
        script = aioredis.Redis(connection_pool=pool).register_script(_SCRIPT)
        checkers[url] = Batcher(
            functools.partial(_run_checks, script), max_batch=CHECK_BATCH_MAX, max_in_flight=CHECK_BATCHES_IN_FLIGHT
        )
    return checkers[url]


async def _run_checks(script, checks: list[tuple[str, list]]) -> list:
    """Runs the script once per (key, args) in one round trip. If Redis lost the script
    (restarted or flushed), it is loaded and only the checks it refused run again, so no
    check is counted twice."""
    client = script.registered_client
    results = await _evalsha_pipeline(client, script.sha, checks)
    lost = [index for index, result in enumerate(results) if isinstance(result, NoScriptError)]
    if lost:
        await client.script_load(_SCRIPT)
        retried = await _evalsha_pipeline(client, script.sha, [checks[index] for index in lost])
        for index, result in zip(lost, retried, strict=True):
            results[index] = result
    return results


async def _evalsha_pipeline(client, sha: str, checks: list[tuple[str, list]]) -> list:
    async with client.pipeline(transaction=False) as pipeline:
        for key, args in checks:
            pipeline.evalsha(sha, 1, key, *args)
        return await pipeline.execute(raise_on_error=False)


# Budgets of calls we make ourselves (Telegram's send limits) run the same script without a
# penalty: a refused reservation only learns when there is room, so callers that wait and
# retry are served in turn. They are not scaled by RATE_LIMIT_SCALE: the other side's
# limits do not move with ours. They fail open: a budget protects the other side's limits,
# which answer 429 themselves if we overshoot. Like the limits, they are off without Redis.
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
        period_ms = budget.burst * budget.interval_seconds * 1000
        keys.append(_budget_key(budget.name))
        args += [budget.burst, period_ms, 0, period_ms]
    holds = [_hold_key(budget.name) for budget in budgets]
    try:
        allowed, retry_after_ms, _ = _sync_script(settings.RATE_LIMIT_REDIS_URL)(keys=keys + holds, args=args)
    except redis.RedisError as error:
        names = ", ".join(budget.name for budget in budgets)
        logger.warning("send budgets %s unavailable (%s); sending anyway", names, type(error).__name__)
        return 0.0
    return 0.0 if allowed else retry_after_ms / 1000


def hold(*, budget: str, seconds: float) -> None:
    """Closes `budget` for `seconds` (the other side asked us to wait): reserve() refuses
    it until then, without taking from any budget."""
    if not settings.RATE_LIMIT_REDIS_URL:
        return
    client = _sync_script(settings.RATE_LIMIT_REDIS_URL).registered_client
    try:
        client.set(_hold_key(budget), 1, px=max(1, round(seconds * 1000)))
    except redis.RedisError as error:
        logger.warning("send budget %s cannot be held (%s)", budget, type(error).__name__)


def _budget_key(budget: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:budget:{budget}"


def _hold_key(budget: str) -> str:
    return f"{_budget_key(budget)}:hold"
