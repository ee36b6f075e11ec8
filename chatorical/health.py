"""Liveness and readiness: /health says the process runs, /ready that its backends answer."""

import asyncio
import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

from chatorical import ratelimit

logger = logging.getLogger(__name__)


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


async def _channel_layer_round_trip():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "ready.probe"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=3)
    if message.get("type") != "ready.probe":
        raise RuntimeError("unexpected message on the probe channel")


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
    body = {"status": "fail" if failing else "ok", "failing": failing, "checks": results}
    if not failing:
        body["telegram"] = _telegram_problems()
    return JsonResponse(body, status=status)


def _telegram_problems() -> dict:
    """Bots that need a human (a right to grant, a kicked bot): reported, not failing, as
    the process itself is fine and conversations wait for the fix."""
    from telegram_bridge.bridge import bot_problems
    from tenants.models import Tenant

    slugs = dict(Tenant.objects.filter(status=Tenant.Status.ACTIVE).values_list("id", "slug"))
    return {slugs[tenant_id]: problem for tenant_id, problem in bot_problems(list(slugs)).items()}
