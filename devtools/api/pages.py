"""The front page, the demo customer pages and the sandbox's support group (dev only)."""

import json
from pathlib import Path

import httpx
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import ensure_csrf_cookie

from chatorical.errors import error_response

# The customer pages the browser tests use: served here, they load the widget from this server.
HOST_PAGES = {
    "v1": Path(settings.BASE_DIR) / "widget_static" / "testing" / "v1-host.html",
    "v2": Path(settings.BASE_DIR) / "widget_static" / "testing" / "v2-host.html",
}
SANDBOX_ACTIONS = {"state": "GET", "message": "POST", "press": "POST", "delete-topic": "POST"}
SANDBOX_TIMEOUT_SECONDS = 5


def front_page(request):
    return render(
        request,
        "devtools/front.html",
        {"sandbox": settings.TELEGRAM_SANDBOX, "demo_tenant": settings.DEMO_TENANT_SLUG},
    )


@xframe_options_sameorigin
def demo_page(request, version):
    page = HOST_PAGES.get(version)
    if page is None:
        return error_response(404, "not_found", "The demo pages are /dev/demo/v1/ and /dev/demo/v2/.")
    return HttpResponse(page.read_bytes(), content_type="text/html; charset=utf-8")


@xframe_options_sameorigin
@ensure_csrf_cookie
def support_group(request):
    return render(request, "devtools/support_group.html", {"sandbox": settings.TELEGRAM_SANDBOX})


async def support_group_api(request, action):
    """The page's calls, passed to the sandbox's page API (same origin for the page, and
    the app, not the browser, needs to reach the sandbox)."""
    if not settings.TELEGRAM_SANDBOX:
        return error_response(404, "sandbox_off", "The Bot API sandbox is not running: a real bot is configured.")
    method = SANDBOX_ACTIONS.get(action)
    if method is None:
        return error_response(404, "not_found", f"No sandbox action `{action}`.")
    if request.method != method:
        return error_response(405, "method_not_allowed", f"Use {method} for `{action}`.")
    try:
        body = json.loads(request.body or b"{}") if method == "POST" else None
    except ValueError:
        return error_response(400, "invalid_json", "The body must be a JSON object.")
    try:
        async with httpx.AsyncClient(base_url=settings.TELEGRAM_API_BASE, timeout=SANDBOX_TIMEOUT_SECONDS) as client:
            answer = await client.request(method, f"/sandbox/{action}", json=body)
        payload = answer.json()
    except (httpx.HTTPError, ValueError):
        return error_response(
            503, "sandbox_unavailable", f"The Bot API sandbox at {settings.TELEGRAM_API_BASE} does not answer."
        )
    return HttpResponse(json.dumps(payload), status=answer.status_code, content_type="application/json")
