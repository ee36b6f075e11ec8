"""Telegram webhooks: the v1 path for the default tenant, the v2 path for any tenant.

No update is accepted without proof that it came from Telegram: the v1 path needs the
default tenant's header secret (`X-Telegram-Bot-Api-Secret-Token`), the v2 path a path
secret of at least 32 characters plus the tenant's header secret when it has one. Every
refusal looks the same (403 `forbidden`), whether the path secret is unknown or the header
wrong, and costs the client's IP one try of the `webhook_guess` limit; once that limit
refuses, the IP waits out its block even with a right guess, and each try meanwhile
lengthens the block (the limiter's penalty).

An accepted update is stored once (the seen-set), then processed in the same request, in
the order updates arrived; a worker takes what a request leaves. Anything unparsable is
acknowledged so Telegram does not retry it, and so is an update whose processing failed.
"""

import hmac
import json
import logging
import time

from django.core.cache import cache
from django.http import JsonResponse
from django.utils.crypto import salted_hmac
from django.views.decorators.csrf import csrf_exempt

from chatorical import ratelimit, tenancy, tracing
from chatorical.client_ip import request_client_ip
from chatorical.direct_http import served_directly
from chatorical.errors import ApiError, api_error_response, error_response
from chatorical.http import allow_methods
from chatorical.middleware import default_tenant_view
from telegram_bridge import metrics
from telegram_bridge.tasks import telegram_updates_process
from telegram_bridge.updates import process_pending_updates, update_store, updates_durable
from tenants.selectors import telegram_settings_for, tenant_for_webhook_secret, tenant_get_default

logger = logging.getLogger(__name__)

OK = {"ok": True}
# Updates one webhook request processes at most before it hands the rest to a worker: under
# a flood Telegram's requests are answered at once, and the backlog keeps its order.
WEBHOOK_UPDATES_MAX = 20
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _guess_block_key(ip: str) -> str:
    # Keyed, like the limiter's own keys: Redis holds no raw IPs.
    return f"webhook-guess-block:{salted_hmac('webhook-guess-block', ip).hexdigest()}"


def _try_counted(request) -> int:
    """Counts one try against the client's IP; returns the seconds it must wait (0: none).
    A refused IP is remembered for that long, so a right guess waits too; trying on while
    blocked raises the limiter's penalty, and the block with it."""
    ip = request_client_ip(request)
    decision = ratelimit.check(name="webhook_guess", tenant=tenant_get_default(), kind="ip", value=ip)
    if decision.allowed or decision.unavailable:
        return 0
    seconds = decision.retry_after_seconds
    cache.set(_guess_block_key(ip), time.time() + seconds, timeout=seconds)
    return seconds


def _refuse_guess(request) -> JsonResponse:
    logger.warning("telegram webhook refused: unknown path secret or wrong %s", SECRET_HEADER)
    seconds = _try_counted(request)
    if seconds:
        return _rate_limited(seconds)
    return error_response(403, "forbidden", "Unknown webhook or wrong secret token.")


def _rate_limited(seconds: int) -> JsonResponse:
    return error_response(
        429, "rate_limited", f"Too many failed tries; try again in {seconds} s.", {"Retry-After": str(seconds)}
    )


def _guess_blocked(request) -> JsonResponse | None:
    blocked_until = cache.get(_guess_block_key(request_client_ip(request)))
    if blocked_until is None or blocked_until <= time.time():
        return None
    seconds = _try_counted(request)
    return _rate_limited(seconds) if seconds else None


def _header_secret_matches(request, expected: str) -> bool:
    sent = request.headers.get(SECRET_HEADER, "")
    return hmac.compare_digest(sent.encode(), expected.encode())


def _receive(request, tenant, *, header_required: bool):
    telegram = telegram_settings_for(tenant)
    expected = telegram.header_secret if telegram else ""
    if telegram is None or (header_required and not expected):
        if header_required:
            logger.error("the v1 telegram webhook refuses every update: TELEGRAM_HEADER_SECRET is not set")
        return _refuse_guess(request)
    if expected and not _header_secret_matches(request, expected):
        return _refuse_guess(request)
    # Only a flood trips it; Telegram retries a 429 later, so nothing is lost.
    ratelimit.enforce(name="webhook", tenant=tenant, kind="tenant", value=str(tenant.pk))
    try:
        update = json.loads(request.body)
        update_id = update["update_id"]
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise TypeError("update_id is not an integer")
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("unparsable telegram update ignored: %s", exc)
        return JsonResponse(OK)
    if not update_store(update_id=update_id, payload=update, traceparent=tracing.traceparent()):
        # Telegram's retry of an update stored before: processed once, if it still waits.
        logger.info("telegram update %s seen before; not stored again", update_id)
    _process_stored(tenant)
    # Once for both: the widget hears the agent before the disk is done with the update.
    updates_durable()
    return JsonResponse(OK)


def _process_stored(tenant) -> None:
    """Processes the stored update now, with any still waiting before it: an agent's answer
    reaches the widget without a hop through the worker's queue, where it would wait behind
    the conversations' drains. What this request leaves (a flood's surplus, or a failure)
    goes to a worker; an update stored but never processed (a crash just now) to the sweep."""
    try:
        if process_pending_updates(tenant, limit=WEBHOOK_UPDATES_MAX) < WEBHOOK_UPDATES_MAX:
            return
    except Exception:
        logger.exception("telegram updates of tenant %s left to the worker", tenant.slug)
    try:
        telegram_updates_process.delay(tenant_id=tenant.id)
    except Exception:
        # The update is stored: the sweep takes it once the broker is back.
        logger.exception("could not queue the telegram updates of tenant %s", tenant.slug)


def _answer(request, tenant_slug: str, receive) -> JsonResponse:
    """A blocked guesser's answer, or receive()'s; either counted by status."""
    try:
        response = _guess_blocked(request) or receive()
    except ApiError as exc:
        response = api_error_response(exc)
    except Exception:
        metrics.webhook_answered(tenant_slug=tenant_slug, status=500)
        raise
    metrics.webhook_answered(tenant_slug=tenant_slug, status=response.status_code)
    return response


@served_directly
@csrf_exempt
@allow_methods("POST")
@default_tenant_view
def v1_webhook(request):
    return _answer(request, request.tenant.slug, lambda: _receive(request, request.tenant, header_required=True))


@served_directly
@csrf_exempt
@allow_methods("POST")
def v2_webhook(request, webhook_secret):
    tenant = tenant_for_webhook_secret(webhook_secret)

    def receive():
        if tenant is None:
            return _refuse_guess(request)
        with tenancy.tenant_context(tenant):
            return _receive(request, tenant, header_required=False)

    return _answer(request, tenant.slug if tenant else metrics.UNKNOWN_TENANT, receive)
