"""GET /health/deep: the v1 start path end to end, against the real Telegram group.

start -> topic -> welcome -> token, each step timed; the synthetic conversation is then
closed (which closes its topic) so the support group is left tidy.
"""

import time

from django.conf import settings
from django.http import JsonResponse

from chatorical import tenancy
from chatorical.errors import error_response
from chatorical.http import service_token_valid
from conversations import services
from conversations.models import Conversation
from conversations.tasks import drain_conversation
from conversations.tokens import token_decode, token_issue
from templates_i18n.selectors import template_text
from tenants.selectors import tenant_get_active, tenant_get_default

SYNTHETIC_VISITOR = "Deep health check"


class StepFailed(Exception):
    pass


def _tenant_for(request):
    slug = request.GET.get("tenant")
    if not slug or slug == settings.DEFAULT_TENANT_SLUG:
        return tenant_get_default()
    if not service_token_valid(request):
        return None
    return tenant_get_active(slug=slug)


def _topic_opened(conversation: Conversation) -> str:
    drain_conversation(conversation.pk)
    conversation.refresh_from_db()
    if conversation.thread_id is None:
        raise StepFailed("no topic was created (see /ready and the outbox for the bot's problem)")
    return f"thread {conversation.thread_id}"


def deep_health(request):
    tenant = _tenant_for(request)
    if tenant is None:
        return error_response(403, "forbidden", "Another tenant's deep check needs the service token.")
    steps, conversation = [], None

    def step(name, action):
        started = time.monotonic()
        try:
            detail = action()
        except Exception as exc:
            steps.append({"step": name, "ok": False, "ms": _ms(started), "error": str(exc)[:300]})
            raise StepFailed from exc
        steps.append({"step": name, "ok": True, "ms": _ms(started), "detail": detail})

    def start():
        nonlocal conversation
        conversation = services.conversation_start(tenant=tenant, visitor_name=SYNTHETIC_VISITOR, is_synthetic=True)
        return str(conversation.id)

    with tenancy.tenant_context(tenant):
        try:
            step("start", start)
            step("topic", lambda: _topic_opened(conversation))
            step("welcome", lambda: template_text(tenant_id=tenant.id, key="welcome")[:60])
            step("token", lambda: token_decode(token_issue(conversation=conversation, ttl_seconds=60)).conversation_id)
        except StepFailed:
            pass
        finally:
            if conversation is not None:
                services.conversation_close(conversation=conversation)
                drain_conversation(conversation.pk)
    ok = all(s["ok"] for s in steps) and len(steps) == 4
    return JsonResponse(
        {"status": "ok" if ok else "fail", "tenant": tenant.slug, "steps": steps}, status=200 if ok else 503
    )


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
