"""Request parsing shared by the plain-Django JSON views."""

import hmac
import json
import re
from functools import wraps

from django.conf import settings

from chatorical.errors import ApiError, error_response
from chatorical.validation import locale_check


def json_body(request) -> dict:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return body


def optional_locale(value) -> str:
    return "" if value in (None, "") else locale_check(value)


def optional_page_url(value) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 2048 or not re.fullmatch(r"https?://[^\s\x00]+", value):
        raise ApiError(400, "invalid_page_url", "`page_url` must be an http(s) URL of at most 2048 characters.")
    return value


def bearer_token(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing_token", "Send the conversation token as `Authorization: Bearer <token>`.")
    return token.strip()


def allow_methods(*methods: str):
    """Like Django's require_http_methods, but answers in the API's JSON error shape."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                return error_response(
                    405, "method_not_allowed", f"Use {', '.join(methods)}.", {"Allow": ", ".join(methods)}
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def bearer_matches(request, *expected_tokens: str) -> bool:
    """Whether `Authorization: Bearer <token>` carries one of the tokens (unset ones never match)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    sent = token.strip().encode()
    # Constant-time, so a token cannot be guessed byte by byte from response times.
    return any(expected and hmac.compare_digest(sent, expected.encode()) for expected in expected_tokens)


def service_token_valid(request) -> bool:
    """Whether the request carries `Authorization: Bearer $SERVICE_TOKEN`."""
    return bearer_matches(request, settings.SERVICE_TOKEN)


def operator_token_valid(request) -> bool:
    """The service token or METRICS_TOKEN: what /metrics and /ready's detail need."""
    return bearer_matches(request, settings.SERVICE_TOKEN, settings.METRICS_TOKEN)


def service_token_required(view):
    """For the legacy admin endpoints of the default tenant."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not service_token_valid(request):
            raise ApiError(401, "invalid_service_token", "Send `Authorization: Bearer <SERVICE_TOKEN>`.")
        return view(request, *args, **kwargs)

    return wrapper
