"""Refusals, and the one JSON error shape of every HTTP API: {"error": {"code", "message"}}.

Services and selectors raise `DomainError`s: a kind (`Invalid`, `NotFound`, `Conflict`)
with a stable `code` and a `message`, and nothing of HTTP (conversations/errors.py,
chatorical/validation.py). Views raise `ApiError` with the status themselves. Each surface
turns a refusal (an ApiError, which every DomainError is) into its answer in one place:
HTTP here (`http_status` of a kind; JsonErrorMiddleware and the DRF exception handler
answer the JSON), the visitor's socket into an info note (conversations/consumers.py),
Telegram into a hint in the topic (telegram_bridge/updates.py), the CLI into the command's
error (tenants' commands) and the Django admin into a form error (admin_forms.py).
"""

from django.http import JsonResponse


class ApiError(Exception):
    """A refusal the client is shown: a stable `code` and a `message`. Raised by a view (or
    the request helpers of chatorical/http.py) with its HTTP status and headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class DomainError(ApiError):
    """A rule of the domain refused the action. Subclasses set `code` and `message`, or
    take them (`code=` for a family of codes, such as the text checks')."""

    code = ""
    message = ""

    def __init__(self, message: str | None = None, *, code: str | None = None):
        message = message or type(self).message
        super().__init__(http_status(self), code or type(self).code, message)


class Invalid(DomainError):
    """The input breaks a rule (the client can fix it)."""


class NotFound(DomainError):
    """The object does not exist for the tenant in context."""


class Conflict(DomainError):
    """The object's state refuses the action (closed, claimed, taken)."""


_HTTP_STATUS = ((Invalid, 400), (NotFound, 404), (Conflict, 409))


def http_status(error: DomainError) -> int:
    for kind, status in _HTTP_STATUS:
        if isinstance(error, kind):
            return status
    return 400


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def internal_error_response() -> JsonResponse:
    """The answer to a crash on an API path (the crash itself is logged where it is caught)."""
    return error_response(500, "internal_error", "Something went wrong on our side.")


def api_error_response(error: ApiError) -> JsonResponse:
    return error_response(error.status, error.code, error.message, error.headers)
