"""The v2 widget's HTTP API, for any tenant: bootstrap, conversation start, socket tokens.

    GET  /v2/tenants/<slug>/bootstrap                        the widget's configuration
    POST /v2/tenants/<slug>/conversations                    201 {conversation_id}
    POST /v2/tenants/<slug>/conversations/<id>/token         {token, expires_in}

and `WS /v2/ws?token=<token>&after_seq=<N>` (conversations/consumers.py).

The conversation id is the widget's capability. These endpoints are public and called from
customers' pages, so there is no secret a page could keep that a visitor could not read:
whoever holds a conversation's id (a random UUID, 122 bits, never listed anywhere public)
may fetch tokens for it, as DESIGN.md specifies. The widget persists that id and nothing
else. Tokens are what the id buys: short-lived (V2_TOKEN_TTL_SECONDS, at most 5 minutes),
spent by the one handshake that uses them, and fetched anew before every connect, so a
leaked token is worth one socket for a few minutes and no token is ever stored.

Origins: a page on an origin outside the tenant's allowlist is refused (403
origin_not_allowed) and gets no CORS headers (tenants/cors.py). A request without an
Origin is not a browser page's, and could name any Origin it liked, so it is served; the
socket, where browsers always send one, refuses a missing Origin.

Limits (chatorical/ratelimit.py): conversation start per IP; tokens per IP, then per
conversation. Tenant lookup by slug (404 for unknown and suspended tenants) is
TenantMiddleware's; conversation ids of other tenants are simply not found (404).
"""

from urllib.parse import unquote

from django.conf import settings
from django.http import JsonResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.csrf import csrf_exempt

from chatorical import ratelimit
from chatorical.client_ip import request_client_ip
from chatorical.errors import ApiError
from chatorical.http import allow_methods, optional_locale
from chatorical.validation import normalize_locale
from conversations import selectors
from conversations.api.widget_v1 import conversation_start_from_request
from conversations.errors import ConversationClosed
from conversations.tokens import AUDIENCE_V2, token_epoch, token_issue
from templates_i18n.rendering import render
from templates_i18n.selectors import resolve, ui_strings
from tenants.selectors import origin_allowed

BOOTSTRAP_MAX_AGE_SECONDS = 60
THEME = {"accent_color": "#2563eb", "position": "right"}
FEATURES = {"ask_name": True}


def _check_origin(request) -> None:
    origin = request.headers.get("Origin")
    if origin is not None and not origin_allowed(tenant=request.tenant, origin=origin):
        raise ApiError(403, "origin_not_allowed", "This site may not use this chat.")


def _accept_language_first(header: str) -> str:
    """The visitor's most preferred language in an Accept-Language header, or ""."""
    ranked = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        try:
            quality = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag))
    return min(ranked)[2] if ranked else ""


def _visitor_locale(request) -> str:
    requested = optional_locale(request.GET.get("locale"))
    return normalize_locale(requested or _accept_language_first(request.headers.get("Accept-Language", "")))


def _widget_strings(tenant, locale: str) -> dict[str, str]:
    strings = ui_strings(tenant=tenant, locale=locale)
    # ui_strings renders placeholders it has no value for as "", but the agent's name is
    # only known in the widget: keep `{agent}` for it to fill, wherever a language puts it.
    agent_joined = resolve(tenant=tenant, kind="ui", key="agent_joined", locale=locale).text
    strings["agent_joined"] = render(agent_joined, {"tenant": tenant.name, "agent": "{agent}"})
    return strings


def _ws_url(request) -> str:
    """The socket on the host the widget reached us on (conversations/routing.py)."""
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}/v2/ws"


@allow_methods("GET")
def bootstrap(request, tenant_slug):
    _check_origin(request)
    tenant = request.tenant
    locale = _visitor_locale(request) or tenant.default_locale
    conversations_path = reverse("v2-widget-conversations", kwargs={"tenant_slug": tenant.slug})
    # reverse() percent-encodes the braces of the placeholder the widget fills in.
    token_path = unquote(
        reverse("v2-widget-token", kwargs={"tenant_slug": tenant.slug, "conversation_id": "{conversation_id}"})
    )
    response = JsonResponse(
        {
            "tenant": {"slug": tenant.slug, "name": tenant.name},
            "locale": locale,
            "strings": _widget_strings(tenant, locale),
            "theme": THEME,
            "features": FEATURES,
            "ws_url": _ws_url(request),
            "api": {"conversations": conversations_path, "token": token_path},
        }
    )
    patch_cache_control(response, public=True, max_age=BOOTSTRAP_MAX_AGE_SECONDS)
    patch_vary_headers(response, ("Origin", "Accept-Language"))
    return response


@csrf_exempt
@allow_methods("POST")
def conversation_create(request, tenant_slug):
    _check_origin(request)
    conversation = conversation_start_from_request(request)
    return JsonResponse({"conversation_id": str(conversation.id)}, status=201)


@csrf_exempt
@allow_methods("POST")
def token_create(request, tenant_slug, conversation_id):
    # Per IP first, so that guessing ids costs as much as using them.
    ratelimit.enforce(name="token", tenant=request.tenant, kind="ip", value=request_client_ip(request))
    _check_origin(request)
    conversation = selectors.conversation_get_required(conversation_id=conversation_id)
    if conversation.is_closed:
        raise ConversationClosed()
    ratelimit.enforce(name="token", tenant=request.tenant, kind="conversation", value=str(conversation.id))
    ttl = settings.V2_TOKEN_TTL_SECONDS
    epoch = token_epoch()
    if epoch is None:
        raise ApiError(503, "token_unavailable", "Tokens cannot be issued right now; try again shortly.")
    token = token_issue(conversation=conversation, ttl_seconds=ttl, audience=AUDIENCE_V2, epoch=epoch)
    return JsonResponse({"token": token, "expires_in": ttl})
