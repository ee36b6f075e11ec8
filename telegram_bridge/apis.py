"""Telegram webhooks: the v1 path for the default tenant, the v2 path for any tenant.

They answer fast and defer the work: an update is stored once (the seen-set) and
processed by a worker. Anything unparsable is acknowledged so Telegram does not retry it.
"""

import hmac
import json
import logging

from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from chatorical import ratelimit, tenancy, tracing
from chatorical.errors import ApiError, api_error_response, error_response
from chatorical.http import allow_methods
from chatorical.middleware import default_tenant_view
from telegram_bridge import metrics
from telegram_bridge.models import TelegramUpdate
from telegram_bridge.tasks import telegram_updates_process
from tenants.selectors import telegram_settings_for, tenant_for_webhook_secret

logger = logging.getLogger(__name__)

OK = {"ok": True}


def _answer(request, tenant):
    """_receive, with its answer counted by status."""
    try:
        response = _receive(request, tenant)
    except ApiError as exc:
        response = api_error_response(exc)
    except Exception:
        metrics.webhook_answered(tenant_slug=tenant.slug, status=500)
        raise
    metrics.webhook_answered(tenant_slug=tenant.slug, status=response.status_code)
    return response


def _receive(request, tenant):
    # Only a flood trips it; Telegram retries a 429 later, so nothing is lost.
    ratelimit.enforce(name="webhook", tenant=tenant, kind="tenant", value=str(tenant.pk))
    telegram = telegram_settings_for(tenant)
    if telegram is None:
        return error_response(404, "telegram_not_configured", "This tenant has no Telegram bot configured.")
    if telegram.header_secret:
        sent = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(sent.encode(), telegram.header_secret.encode()):
            return error_response(403, "invalid_secret", "Wrong X-Telegram-Bot-Api-Secret-Token.")
    try:
        update = json.loads(request.body)
        update_id = update["update_id"]
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise TypeError("update_id is not an integer")
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("unparsable telegram update ignored: %s", exc)
        return JsonResponse(OK)
    try:
        with transaction.atomic():
            TelegramUpdate.objects.create(
                tenant=tenant, update_id=update_id, payload=update, traceparent=tracing.traceparent()
            )
            transaction.on_commit(lambda: telegram_updates_process.delay(tenant_id=tenant.id))
    except IntegrityError:
        logger.info("telegram update %s seen before; ignored", update_id)
    return JsonResponse(OK)


@csrf_exempt
@allow_methods("POST")
@default_tenant_view
def v1_webhook(request):
    return _answer(request, request.tenant)


@csrf_exempt
@allow_methods("POST")
def v2_webhook(request, webhook_secret):
    tenant = tenant_for_webhook_secret(webhook_secret)
    if tenant is None:
        metrics.WEBHOOK_RESPONSES.labels(tenant=metrics.UNKNOWN_TENANT, status="404").inc()
        return error_response(404, "not_found", "No such webhook.")
    with tenancy.tenant_context(tenant):
        return _answer(request, tenant)
