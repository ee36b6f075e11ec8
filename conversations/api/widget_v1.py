"""The v1 widget API, for the default tenant. Paths and shapes are a fixed contract."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from chatorical import plans, ratelimit, tenancy
from chatorical.client_ip import request_client_ip
from chatorical.errors import ApiError
from chatorical.http import allow_methods, bearer_token, json_body, optional_locale, optional_page_url
from chatorical.middleware import default_tenant_view
from conversations import selectors, services
from conversations.tokens import TokenRefused, token_decode, token_issue


def _conversation_for_bearer(request, conversation_id):
    """The conversation the bearer token is for; a token for another one is refused."""
    try:
        claims = token_decode(bearer_token(request))
    except TokenRefused:
        raise ApiError(401, "invalid_token", "The conversation token is invalid or expired.") from None
    tenant = tenancy.require_tenant()
    if claims.tenant_id != tenant.id or claims.conversation_id != str(conversation_id):
        raise ApiError(403, "token_mismatch", "The token is not for this conversation.")
    return selectors.conversation_get_required(conversation_id=conversation_id)


def conversation_start_from_request(request):
    """The visitor's `{name?, locale?, page_url?}` start, shared by the v1 and v2 widget APIs."""
    # Before the body is read: malformed floods count too.
    ratelimit.enforce(name="conversation_start", tenant=request.tenant, kind="ip", value=request_client_ip(request))
    body = json_body(request)
    visitor_name = services.clean_visitor_name(body.get("name"))
    locale, page_url = optional_locale(body.get("locale")), optional_page_url(body.get("page_url"))
    plans.policy().conversation_start_check(request.tenant, locale=locale)
    return services.conversation_start(
        tenant=request.tenant, visitor_name=visitor_name, locale=locale, page_url=page_url
    )


@csrf_exempt
@allow_methods("POST")
@default_tenant_view
def v1_start(request):
    conversation = conversation_start_from_request(request)
    token = token_issue(conversation=conversation, ttl_seconds=settings.V1_TOKEN_TTL_SECONDS)
    return JsonResponse({"conversation_id": str(conversation.id), "token": token}, status=201)


@allow_methods("GET")
@default_tenant_view
def v1_messages(request, conversation_id):
    conversation = _conversation_for_bearer(request, conversation_id)
    ratelimit.enforce(name="history", tenant=request.tenant, kind="conversation", value=str(conversation.id))
    messages = [
        {"direction": m.direction, "text": m.text, **({"agent": m.agent_name} if m.agent_name else {})}
        for m in selectors.message_list_latest(conversation=conversation, limit=settings.HISTORY_MAX_MESSAGES)
    ]
    return JsonResponse({"messages": messages})


@csrf_exempt
@allow_methods("POST")
@default_tenant_view
def v1_rename(request, conversation_id):
    conversation = _conversation_for_bearer(request, conversation_id)
    body = json_body(request)
    name = services.clean_visitor_name(body.get("name"), required=True)
    # After the token and the name are checked: nobody else can spend this conversation's renames.
    ratelimit.enforce(name="rename", tenant=request.tenant, kind="conversation", value=str(conversation.id))
    conversation = services.conversation_rename(conversation=conversation, visitor_name=name)
    return JsonResponse({"conversation_id": str(conversation.id), "name": conversation.visitor_name})
