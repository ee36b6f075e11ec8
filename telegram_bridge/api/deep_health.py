"""GET /health/deep: a visitor's path end to end (start -> topic -> welcome -> token) for
one tenant, against its real Telegram group.

Who may run it: `Authorization: Bearer $SERVICE_TOKEN` for any tenant (`?tenant=<slug>`,
the default tenant without it), or `Authorization: Api-Key <key>` with the `health:read`
scope for the key's own tenant. Never anonymous.

What it costs: at most one run a minute per tenant; callers in between get the last
result (`cached: true`). Each tenant has one synthetic conversation and topic that every
run reuses: the first run opens them, later runs post one silent probe into the topic
through the outbox, as a visitor's message goes. Usage does not count the synthetic
conversation (`Conversation.is_synthetic`).

What it tells: step names, outcomes and timings; never exception text or ids. Failures
are logged, with their cause, for the operator.
"""

import logging
import time

from django.core.cache import cache
from django.http import JsonResponse
from django.utils import timezone

from chatorical import tenancy
from chatorical.errors import ApiError
from chatorical.http import service_token_valid
from chatorical.tenancy import TenantNotFound
from conversations import selectors, services
from conversations.models import Conversation, Message
from conversations.outbox import drain_conversation, pending_state
from conversations.tokens import token_decode, token_issue
from telegram_bridge.selectors import topic_get
from templates_i18n.selectors import template_text
from tenants.models import ApiKey, Tenant
from tenants.selectors import api_key_for_raw_key, tenant_get_active, tenant_get_default

logger = logging.getLogger(__name__)

SYNTHETIC_VISITOR = "Deep health check"
RUN_INTERVAL_SECONDS = 60
RESULT_KEEP_SECONDS = 3600
# A running Celery worker may take the probe's event before our own drain does.
DELIVERY_WAIT_SECONDS = 10.0


class StepFailed(Exception):
    pass


def _tenant_for(request) -> Tenant:
    """The tenant the caller may check, or the ApiError that says why not."""
    slug = request.GET.get("tenant") or ""
    if service_token_valid(request):
        tenant = tenant_get_active(slug=slug) if slug else tenant_get_default()
        if tenant is None:
            raise TenantNotFound()
        return tenant
    scheme, _, raw_key = request.headers.get("Authorization", "").partition(" ")
    api_key = api_key_for_raw_key(raw_key=raw_key.strip()) if scheme.lower() == "api-key" and raw_key else None
    if api_key is None:
        raise ApiError(
            401, "unauthorized", "Send the service token as a Bearer, or an API key with the health:read scope."
        )
    if ApiKey.Scope.HEALTH_READ not in api_key.scopes:
        raise ApiError(403, "forbidden", "This API key lacks the scope health:read.")
    if slug and slug != api_key.tenant.slug:
        raise ApiError(403, "forbidden", "An API key checks its own tenant only.")
    return api_key.tenant


def _result_key(tenant: Tenant) -> str:
    return f"deep-health:result:{tenant.id}"


def _run_key(tenant: Tenant) -> str:
    return f"deep-health:run:{tenant.id}"


def deep_health(request):
    tenant = _tenant_for(request)
    next_run_at = time.time() + RUN_INTERVAL_SECONDS
    if not cache.add(_run_key(tenant), next_run_at, timeout=RUN_INTERVAL_SECONDS):
        result = cache.get(_result_key(tenant))
        if result is None:  # the first run of the minute is still going
            wait = max(1, round((cache.get(_run_key(tenant)) or next_run_at) - time.time()))
            raise ApiError(
                429, "rate_limited", f"A deep check runs at most once a minute; try again in {wait} s.",
                {"Retry-After": str(wait)},
            )  # fmt: skip
        return _response({**result, "cached": True})
    with tenancy.tenant_context(tenant):
        steps = _run(tenant)
    result = {
        "status": "ok" if all(step["ok"] for step in steps) and len(steps) == len(STEPS) else "fail",
        "tenant": tenant.slug,
        "checked_at": timezone.now().isoformat(),
        "steps": steps,
    }
    cache.set(_result_key(tenant), result, timeout=RESULT_KEEP_SECONDS)
    return _response({**result, "cached": False})


def _response(result: dict) -> JsonResponse:
    return JsonResponse(result, status=200 if result["status"] == "ok" else 503)


def _run(tenant: Tenant) -> list[dict]:
    steps, state = [], {}
    for name, action in STEPS:
        started = time.monotonic()
        try:
            action(tenant, state)
        except Exception:
            logger.warning("deep health check of tenant %s failed at step %s", tenant.slug, name, exc_info=True)
            steps.append({"step": name, "ok": False, "ms": _ms(started)})
            break
        steps.append({"step": name, "ok": True, "ms": _ms(started)})
    return steps


def _start(tenant: Tenant, state: dict) -> None:
    conversation = selectors.conversation_synthetic_get()
    state["opened"] = conversation is None
    state["conversation"] = conversation or services.conversation_start(
        tenant=tenant, visitor_name=SYNTHETIC_VISITOR, is_synthetic=True
    )


def _topic(tenant: Tenant, state: dict) -> None:
    """The first run's topic is opened by the ConversationStarted event; later runs prove
    the topic still takes posts with one silent probe."""
    conversation: Conversation = state["conversation"]
    if not state["opened"]:
        services.message_add(
            conversation=conversation,
            direction=Message.Direction.INBOUND,
            text=f"{SYNTHETIC_VISITOR}: {timezone.now():%Y-%m-%d %H:%M:%S} UTC",
        )
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while True:
        drain_conversation(conversation.pk)
        pending = pending_state(conversation)
        if pending is None:
            break
        if pending == "waiting":
            raise StepFailed("Telegram refused the topic's events; they wait for a retry (see /ready)")
        if time.monotonic() > deadline:
            raise StepFailed("the topic's events were not delivered in time")
        time.sleep(0.1)  # a worker holds the event: its outcome is the step's
    if topic_get(conversation=conversation) is None:
        raise StepFailed("no topic")


def _welcome(tenant: Tenant, state: dict) -> None:
    if not template_text(tenant_id=tenant.id, key="welcome").strip():
        raise StepFailed("the welcome text is empty")


def _token(tenant: Tenant, state: dict) -> None:
    conversation = state["conversation"]
    claims = token_decode(token_issue(conversation=conversation, ttl_seconds=60))
    if str(claims.conversation_id) != str(conversation.id):
        raise StepFailed("the token names another conversation")


STEPS = (("start", _start), ("topic", _topic), ("welcome", _welcome), ("token", _token))


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
