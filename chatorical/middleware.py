import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve

from chatorical import tenancy
from chatorical.errors import ApiError, api_error_response, error_response, internal_error_response
from chatorical.logs import request_id_var

logger = logging.getLogger(__name__)

# How TenantMiddleware finds a request's tenant: `lookup(request, slug)` answers the active
# tenant `slug` names (None if there is none), or the default tenant for slug None. The
# tenants app registers it at start-up (tenants/apps.py), so the core imports no app.
TenantLookup = Callable[[HttpRequest, str | None], object | None]
_tenant_lookup: TenantLookup | None = None


def tenant_lookup_register(lookup: TenantLookup) -> None:
    global _tenant_lookup
    _tenant_lookup = lookup


_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
API_PATH_RE = re.compile(r"^/(v1|v2|api|health|ready)(/|$)")


def request_id_for(incoming: str) -> str:
    """The id a proxy gave the request, if it is sane, else a new one."""
    return incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives each request an id (the proxy's, if it is sane) for logs and the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request.headers.get("X-Request-Id", ""))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-Id"] = request_id
        return response


class RequestBodyLimitMiddleware:
    """Answers 413 for a body longer than REQUEST_BODY_MAX_BYTES, before anything reads it.

    Django refuses such a body only where `request.body` is read, and crashes into a 500
    there; DRF's parsers read the stream and bypass the check altogether. The declared
    length is all that is trusted: a body without one is read as empty.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.REQUEST_BODY_MAX_BYTES:
            return body_too_large_response()
        return self.get_response(request)


def body_too_large_response() -> JsonResponse:
    return error_response(
        413, "body_too_large", f"The request body is longer than {settings.REQUEST_BODY_MAX_BYTES} bytes."
    )


def default_tenant_view(view):
    """Marks a view as serving the default tenant (the v1 surface)."""
    view.tenant_scope = "default"
    return view


class TenantMiddleware:
    """Puts the tenant a request is for into the tenant context.

    v1 views act for the default tenant; views routed with a `tenant_slug` act for that
    tenant. API-key views set the context after authenticating the key.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Resolved already where the ASGI router serves the view (direct_http.py).
        match = request.resolver_match
        if match is None:
            try:
                match = resolve(request.path_info)
            except Resolver404:
                return self.get_response(request)
        if getattr(match.func, "tenant_scope", None) == "default":
            tenant = _tenant_lookup(request, None)
        elif "tenant_slug" in match.kwargs:
            tenant = _tenant_lookup(request, match.kwargs["tenant_slug"])
            if tenant is None:
                return api_error_response(tenancy.TenantNotFound())
        else:
            return self.get_response(request)
        request.tenant = tenant
        with tenancy.tenant_context(tenant):
            return self.get_response(request)


class JsonErrorMiddleware:
    """Turns ApiError into its JSON answer and any crash on an API path into a JSON 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ApiError):
            return api_error_response(exception)
        if API_PATH_RE.match(request.path_info):
            logger.exception("unhandled error on %s", request.path_info)
            return internal_error_response()
        return None
