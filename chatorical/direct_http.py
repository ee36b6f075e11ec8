"""Views served straight from the ASGI router, beside Django's middleware stack.

Django under ASGI runs a sync view through about twenty middlewares, two signals and, as
soon as one middleware can run async, a ping-pong between the event loop and the request's
thread (a new thread per request): about 5 ms of a daphne's CPU before the view starts.
A view marked `served_directly` is called in one hop to a thread with only what it needs:
the request id, the body limit, the security headers, the tenant context, JSON errors and
a span. It must need nothing else (no session, user, CSRF, CORS or messages), which suits
machine-to-machine endpoints such as Telegram's webhook. Django's own URLconf still routes
it, so the test client and `reverse` see no difference.
"""

import io
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve
from django.utils.log import log_response

from chatorical import tracing
from chatorical.errors import internal_error_response
from chatorical.middleware import (
    JsonErrorMiddleware,
    RequestBodyLimitMiddleware,
    RequestIdMiddleware,
    TenantMiddleware,
    body_too_large_response,
)

logger = logging.getLogger(__name__)


def served_directly(view):
    """Marks a view to be served by DirectHttpRouter instead of Django's stack."""
    view.served_directly = True
    return view


def _view_called(request) -> HttpResponse:
    match = request.resolver_match
    try:
        return match.func(request, *match.args, **match.kwargs)
    except Exception as exc:
        response = JsonErrorMiddleware(None).process_exception(request, exc)
        if response is None:
            raise
        return response


# Outermost first, as in MIDDLEWARE; each is the same class Django's stack runs.
_answer = RequestIdMiddleware(
    RequestBodyLimitMiddleware(SecurityMiddleware(XFrameOptionsMiddleware(TenantMiddleware(_view_called))))
)


class DirectHttpRouter:
    """An ASGI application: requests for a view marked `served_directly` are answered here,
    every other one by `django_app`."""

    def __init__(self, django_app):
        self.django_app = django_app

    async def __call__(self, scope, receive, send):
        match = _direct_match(scope)
        if match is None:
            return await self.django_app(scope, receive, send)
        try:
            body = await _body_read(scope, receive)
        except _ClientGone:
            return  # nobody to answer, and a view must not act on half a request
        if body is None:
            response = body_too_large_response()
        else:
            response = await sync_to_async(_respond, thread_sensitive=False)(scope, body, match)
        await _response_send(response, send)


def _direct_match(scope):
    if scope["type"] != "http":
        return None
    try:
        match = resolve(scope["path"])
    except Resolver404:
        return None
    return match if getattr(match.func, "served_directly", False) else None


class _ClientGone(Exception):
    pass


async def _body_read(scope, receive) -> bytes | None:
    """The whole body, or None once it passes the limit (a declared length past it is
    refused by RequestBodyLimitMiddleware before anything is read). Raises _ClientGone
    when the client leaves before its body is in."""
    declared = dict(scope["headers"]).get(b"content-length", b"0")
    if declared.isdigit() and int(declared) > settings.REQUEST_BODY_MAX_BYTES:
        return b""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone()
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > settings.REQUEST_BODY_MAX_BYTES:
            return None
        if not message.get("more_body"):
            return b"".join(chunks)


def _respond(scope, body: bytes, match) -> HttpResponse:
    # The signals are what Django's handler sends: they hand the thread's database
    # connection back to the pool afterwards, among others.
    signals.request_started.send(sender=DirectHttpRouter, scope=scope)
    try:
        request = ASGIRequest(scope, io.BytesIO(body))
        request.resolver_match = match
        parent = request.headers.get("traceparent", "")
        with tracing.span(f"{scope['method']} {match.route}", parent=parent) as span:
            response = _answer(request)
            if span is not None:
                span.set_attribute("http.status_code", response.status_code)
        if response.status_code >= 400:
            # As Django's handler logs it (django.request), secrets masked by the same filter.
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return response
    except Exception:
        logger.exception("unhandled error on %s", scope["path"])
        return internal_error_response()
    finally:
        signals.request_finished.send(sender=DirectHttpRouter)


async def _response_send(response: HttpResponse, send) -> None:
    headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
    headers.append((b"Content-Length", str(len(response.content)).encode("ascii")))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
