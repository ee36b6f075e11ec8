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
# Customers embed the stable path /widget/v2.js: a short max-age lets a fix reach every
# page within minutes, and the ETag makes the revalidations after it nearly free.
V2_MAX_AGE_SECONDS = 300


@lru_cache(maxsize=2)
def _static_source(name: str) -> bytes:
    path = finders.find(name)
    if path is None:
        raise FileNotFoundError(name)
    with open(path, "rb") as source:
        return source.read()


def _not_built(name: str):
    message = f"{name} has not been built: run `make widget` (npm ci and npm run build in widget_static/)"
    return error_response(503, "widget_not_built", message)


def widget_v1(request):
    """The v1 widget at its historical path; embedded by customers' pages as a script."""
    try:
        source = _static_source(V1_WIDGET)
    except FileNotFoundError:
        return _not_built(V1_WIDGET)
    response = HttpResponse(source, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def widget_v2(request):
    """The v2 widget: `<script src="https://HOST/widget/v2.js" data-tenant="SLUG" async>`."""
    try:
        source = _static_source(V2_WIDGET)
    except FileNotFoundError:
        return _not_built(V2_WIDGET)
    response = HttpResponse(source, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={V2_MAX_AGE_SECONDS}"
    response["ETag"] = quote_etag(hashlib.sha256(source).hexdigest()[:32])
    # A 304 when the browser's copy is current; it keeps the headers above.
    return get_conditional_response(request, etag=response["ETag"], response=response)
