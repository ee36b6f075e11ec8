"""The limiter's Redis clients, and what a process records when that Redis goes and comes back."""

import functools
import logging

import redis
from django.conf import settings
from prometheus_client import Counter

from chatorical import redis_urls, resilience
from chatorical.metrics import tenant_label
from chatorical.ratelimit.policy import LIMITS

logger = logging.getLogger(__name__)

# A limiter that stalls requests would be worse than the floods it stops.
TIMEOUT_SECONDS = 0.5
CONNECTION_OPTIONS = {
    "socket_connect_timeout": TIMEOUT_SECONDS,
    "socket_timeout": TIMEOUT_SECONDS,
    "timeout": TIMEOUT_SECONDS,  # waiting for a free connection of the pool
    "max_connections": 100,
    "health_check_interval": 30,
}

RATE_LIMITED = Counter(
    "chatorical_rate_limited_total", "Requests and WebSocket frames refused by a rate limit.", ["tenant", "limit"]
)
LIMITER_ERRORS = Counter(
    "chatorical_rate_limiter_errors_total",
    "Rate-limit checks Redis did not answer; each failed open or closed as its limit says.",
    ["limit"],
)


def count_refusal(*, tenant, name: str) -> None:
    RATE_LIMITED.labels(tenant=tenant_label(tenant.slug), limit=name).inc()


@functools.lru_cache(maxsize=4)
def sync_client(url: str) -> redis.Redis:
    return redis.Redis(connection_pool=redis_urls.sync_pool(url, db=settings.REDIS_DB, **CONNECTION_OPTIONS))


@functools.lru_cache(maxsize=8)
def sync_script(url: str, source: str):
    return sync_client(url).register_script(source)


def async_pool(url: str):
    return redis_urls.async_pool(url, db=settings.REDIS_DB, **CONNECTION_OPTIONS)


# This process's outage of the limiter's Redis: logged once, not per request, and counted
# in chatorical_backend_* {component="rate_limiter"} (chatorical/resilience.py).
_outage = resilience.Outage("rate_limiter")


def unavailable(*, name: str, error: Exception) -> bool:
    """Records that Redis did not answer a check of limit `name`; returns what the limit
    answers then (True: allow)."""
    LIMITER_ERRORS.labels(limit=name).inc()
    if _outage.lost():
        logger.error(
            "rate limiter unavailable (%s: %s): each limit fails open or closed as the README's Rate limits say",
            type(error).__name__,
            error,
        )
    return LIMITS[name].fail_open


def available() -> None:
    """Records that Redis answered."""
    if _outage.since is not None:
        logger.warning("rate limiter available again after %.0f s", _outage.ended())
