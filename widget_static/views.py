from functools import lru_cache

from django.contrib.staticfiles import finders
from django.http import HttpResponse

V1_WIDGET = "widget_static/widget-v1.js"


@lru_cache(maxsize=1)
def _widget_v1_source() -> bytes:
    with open(finders.find(V1_WIDGET), "rb") as source:
        return source.read()


def widget_v1(request):
    """The v1 widget at its historical path; embedded by customers' pages as a script."""
    response = HttpResponse(_widget_v1_source(), content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response
