"""Liveness and readiness: /health says the process runs, /ready that its backends answer.

Both are public for load balancers, and say no more than that: /ready's detail (each
check, and which tenants' bots need a human) and /metrics answer only to
`Authorization: Bearer` with the service token or METRICS_TOKEN.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

from chatorical import ratelimit
from chatorical.batcher import per_event_loop
from chatorical.errors import error_response
from chatorical.http import operator_token_valid
from chatorical.metrics import metrics_view

logger = logging.getLogger(__name__)

# Parts of /ready's detail that apps add (name -> a function answering it), registered in
# their AppConfig.ready, so the core imports no app: telegram_bridge adds `telegram`, the
# bots that need a human (reported, not failing: the process is fine and conversations
# wait for the fix).
_ready_details: dict[str, Callable[[], object]] = {}


def ready_detail_register(name: str, detail: Callable[[], object]) -> None:
    _ready_details[name] = detail


def health(request):
    return JsonResponse({"status": "ok"})


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis():
    key = "ready-probe"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("cache round trip returned nothing")


# One probe channel per event loop, kept: a new one per check would stay subscribed for
# the life of the process, and be subscribed again after every Redis restart.
_probe_channels = per_event_loop(dict)


async def _channel_layer_round_trip():
    layer = get_channel_layer()
    probe = _probe_channels()
    if "channel" not in probe:
        probe["channel"] = await layer.new_channel()
    nonce = uuid.uuid4().hex
    await layer.send(probe["channel"], {"type": "ready.probe", "nonce": nonce})
    try:
        async with asyncio.timeout(3):
            # Skips what an earlier check left (a channel-layer notice, say).
            while (await layer.receive(probe["channel"])).get("nonce") != nonce:
                pass
    except TimeoutError:
        del probe["channel"]  # a cancelled receive unsubscribes its channel: the next check makes one
        raise


def _check_channel_layer():
    async_to_sync(_channel_layer_round_trip)()


CHECKS = {
    "database": _check_database,
    "redis": _check_redis,
    "channel_layer": _check_channel_layer,
    "rate_limiter": ratelimit.probe,
}


# Without REDIS_URL (embedded mode) these have nothing to check: the cache is in-process
# memory and the limits are off. They say so instead of a meaningless "ok".
NEEDS_REDIS = ("redis", "rate_limiter")


def ready(request):
    results, failing = {}, []
    for name, check in CHECKS.items():
        if name in NEEDS_REDIS and not settings.REDIS_URL:
            results[name] = {"ok": True, "mode": "embedded"}
            continue
        started = time.monotonic()
        try:
            check()
        except Exception as exc:
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = {"ok": False, "error": type(exc).__name__}
            failing.append(name)
        else:
            results[name] = {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}
    status = 503 if failing else 200
    body = {"status": "fail" if failing else "ok"}
    if operator_token_valid(request):
        body.update(failing=failing, checks=results)
        if not failing:
            body.update({name: detail() for name, detail in _ready_details.items()})
    return JsonResponse(body, status=status)


def metrics(request):
    if not operator_token_valid(request):
        return error_response(
            401, "invalid_metrics_token", "Send `Authorization: Bearer <METRICS_TOKEN or SERVICE_TOKEN>`."
        )
    return metrics_view(request)
