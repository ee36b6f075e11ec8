import hashlib
from functools import lru_cache

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import quote_etag

from chatorical.errors import error_response

# Built from widget_static/src/ by `npm run build` in widget_static/ (make runs it).
V1_WIDGET = "widget_static/widget-v1.js"
V2_WIDGET = "widget_static/widget-v2.js"
# Customers embed the stable paths /widget.js and /widget/v2.js: a short max-age lets a fix
# reach every page within minutes, and v2's ETag makes the revalidations after it nearly free.
MAX_AGE_SECONDS = 300


@lru_cache(maxsize=2)
def _static_source(name: str) -> bytes:
    path = finders.find(name)
    if path is None:
        raise FileNotFoundError(name)
    with open(path, "rb") as source:
        return source.read()


def _script_response(name: str) -> HttpResponse:
    """The built script with its type and cache headers, or a 503 that says how to build it."""
    try:
        source = _static_source(name)
    except FileNotFoundError:
        message = f"{name} has not been built: run `make widget` (npm ci and npm run build in widget_static/)"
        return error_response(503, "widget_not_built", message)
    response = HttpResponse(source, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}"
    return response


def widget_v1(request):
    """The v1 widget at its historical path; embedded by customers' pages as a script."""
    response = _script_response(V1_WIDGET)
    if response.status_code == 200:
        response["Access-Control-Allow-Origin"] = "*"
    return response


def widget_v2(request):
    """The v2 widget: `<script src="https://HOST/widget/v2.js" data-tenant="SLUG" async>`."""
    response = _script_response(V2_WIDGET)
    if response.status_code != 200:
        return response
    response["ETag"] = quote_etag(hashlib.sha256(response.content).hexdigest()[:32])
    # A 304 when the browser's copy is current; it keeps the headers above.
    return get_conditional_response(request, etag=response["ETag"], response=response)
