"""Error pages: JSON on API paths, Django's defaults elsewhere."""

from django.views import csrf, defaults

from chatorical.errors import error_response, internal_error_response
from chatorical.middleware import API_PATH_RE


def not_found(request, exception=None):
    if API_PATH_RE.match(request.path_info):
        return error_response(404, "not_found", "No such endpoint.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if API_PATH_RE.match(request.path_info):
        return internal_error_response()
    return defaults.server_error(request)


def csrf_failure(request, reason=""):
    """JSON for API paths and JSON requests (the dev pages' calls), Django's page for forms."""
    if API_PATH_RE.match(request.path_info) or request.content_type == "application/json":
        return error_response(403, "csrf_failed", f"CSRF check failed: {reason}")
    return csrf.csrf_failure(request, reason)
