"""What every DRF view of the /api/v2 API shares: the error shape (and its schema), the
tenant context, pagination and strict text fields."""

from contextlib import ExitStack

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from chatorical import plans, ratelimit, tenancy
from chatorical.errors import ApiError

# DRF's own codes where the API's are spelled differently.
_CODES = {
    exceptions.ParseError: "invalid_json",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "invalid_api_key",
    exceptions.PermissionDenied: "forbidden",
    exceptions.Throttled: "rate_limited",
}


def _error(status: int, code: str, message: str, headers: dict | None = None, **extra) -> Response:
    return Response({"error": {"code": code, "message": message, **extra}}, status=status, headers=headers)


def exception_handler(exc, context):
    """Every API error as {"error": {"code", "message"}}; validation errors add `fields`.

    Anything else is left to JsonErrorMiddleware, which logs it and answers a JSON 500.
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, (ApiError, exceptions.APIException)):
        return None
    set_rollback()
    if isinstance(exc, ApiError):
        return _error(exc.status, exc.code, exc.message, exc.headers)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, round(exc.wait)))
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return _error(exc.status_code, "invalid", "The request has invalid fields.", headers, fields=detail)
    code = _CODES.get(type(exc), exc.default_code)
    return _error(exc.status_code, code, str(exc.detail), headers)


class TenantApiView(APIView):
    """Base of every API-key view: after DRF authenticates the key (lazily, inside the
    view), the rest of the request acts for the key's tenant.

    Subclasses declare `required_scopes = {"GET": [...], ...}` (tenants/api_auth.HasScopes).
    """

    required_scopes: dict[str, list[str]] = {}
    # OPTIONS answers 405 like any undeclared method: the schema is the description.
    metadata_class = None

    def dispatch(self, request, *args, **kwargs):
        with ExitStack() as self._tenant_scope:
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Authentication and the scope check passed, so there is a key and its tenant.
        tenant = request.auth.tenant
        self._tenant_scope.enter_context(tenancy.tenant_context(tenant))
        ratelimit.enforce(name="api_key", tenant=tenant, kind="key", value=str(request.auth.pk))
        ratelimit.enforce(name="api_key", tenant=tenant, kind="tenant", value=str(tenant.pk))
        plans.policy().api_call_record(tenant)
        # For what runs after the view returned (Django's log line of an error response).
        request._request.tenant = request.auth.tenant


ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorBody",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(required=False, help_text="Per field, for code `invalid`."),
            },
        )
    },
)


def error_responses(descriptions: dict[int, str], *statuses: int) -> dict:
    """The schema of an operation's error responses, all in the one error shape: 401 and
    403 always, and `statuses`, each described by `descriptions`."""
    return {code: OpenApiResponse(ErrorSerializer, description=descriptions[code]) for code in (401, 403, *statuses)}


def validated(serializer_class, data, **kwargs) -> dict:
    """The serializer's validated data; invalid data answers 400 `invalid` with `fields`."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class PagePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class StrictCharField(serializers.CharField):
    """A CharField that refuses a JSON number or boolean instead of turning it into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
