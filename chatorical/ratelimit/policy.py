"""The limits, their defaults, and the rate that applies to a tenant."""

import hashlib
import logging
from dataclasses import dataclass, replace
from functools import lru_cache
from ipaddress import ip_address, ip_network

from django.conf import settings
from django.core.exceptions import ValidationError

from chatorical import plans

logger = logging.getLogger(__name__)

MINUTE = 60
DAY = 24 * 3600

# The penalty level at which a client is treated as abusive: logged, and sockets closed.
ABUSE_LEVEL = 6


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
    # Not a rate: how many sockets may be open at once (sockets.py); only `limit` applies.
    "ws_open": Limit(rates={"conversation": Rate(10, 0, max_block=0), "ip": Rate(100, 0, max_block=0)}, fail_open=True),
}
COUNT_LIMITS = frozenset({"ws_open"})

# The limits a plan multiplies (Plan.api_rate_multiplier); the others are the same on every plan.
PLAN_SCALED_LIMITS = frozenset({"api_key"})


def rate_for(*, name: str, tenant, kind: str) -> Rate:
    """The rate that applies: the default, then the tenant's plan, the tenant, and the scale."""
    rate = LIMITS[name].rates[kind]
    if name in PLAN_SCALED_LIMITS:
        rate = replace(rate, limit=round(rate.limit * plans.policy().api_rate_multiplier(tenant)))
    if override := _tenant_override(tenant=tenant, name=name, kind=kind):
        rate = replace(rate, **override)
    if settings.RATE_LIMIT_SCALE != 1:
        rate = replace(rate, limit=max(1, round(rate.limit * settings.RATE_LIMIT_SCALE)))
    return rate


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
    overrides = tenant.rate_limits
    if not overrides:
        return {}  # nearly every tenant: nothing to check
    try:
        validate_rate_limits(overrides)
    except ValidationError as error:
        # Written past the model's validation; the defaults are safer than a 500 per request.
        logger.warning("tenant %s has invalid rate_limits (%s); using the defaults", tenant.slug, error.messages[0])
        return {}
    return overrides.get(name, {}).get(kind, {})


def limited_key(*, name: str, tenant, kind: str, value: str) -> str:
    """The Redis key of one limited value: a keyed hash, so Redis holds no raw IPs or API keys."""
    return f"{settings.REDIS_KEY_PREFIX}:rl:{tenant.id}:{name}:{kind}:{_digest(kind=kind, value=str(value))}"


def _digest(*, kind: str, value: str) -> str:
    if kind == "ip":
        value = _ip_bucket(value)
    # Keyed with the project's secret: all 4 billion IPv4 addresses are quick to hash.
    return hashlib.blake2b(value.encode(), key=_digest_key(settings.SECRET_KEY), digest_size=16).hexdigest()


@lru_cache(maxsize=2)
def _digest_key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _ip_bucket(ip: str) -> str:
    """IPv6 clients are limited per /64: a single subscriber usually holds a whole /64."""
    try:
        address = ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)
