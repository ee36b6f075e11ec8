"""API-key authentication and scope checks for the /api/v2 DRF API.

`Authorization: Api-Key <key>`. An unknown or revoked key answers 401; a key without the
scope a view requires for the method answers 403.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from tenants import selectors, services

SCHEME = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        scheme, _, raw_key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != SCHEME.lower():
            # No key at all: the permission check answers 401 with how to send one.
            return None
        raw_key = raw_key.strip()
        api_key = selectors.api_key_for_raw_key(raw_key=raw_key) if raw_key else None
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        services.api_key_touch(api_key=api_key)
        return api_key, api_key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (with this challenge) rather than 403 to a missing key.
        return SCHEME


class HasScopes(permissions.BasePermission):
    """Each view declares `required_scopes = {"GET": [...], "POST": [...]}`."""

    def has_permission(self, request, view):
        if request.auth is None:
            raise exceptions.NotAuthenticated(f"Send an API key as `Authorization: {SCHEME} <key>`.")
        method = "GET" if request.method == "HEAD" else request.method
        required = view.required_scopes.get(method)
        if required is None:
            # A method the view has no handler for: the view answers 405. A test checks
            # that every handler of every API view declares its scopes.
            return True
        missing = [scope for scope in required if scope not in request.auth.scopes]
        if missing:
            raise exceptions.PermissionDenied(f"This API key lacks the scope {', '.join(missing)}.")
        return True


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"`{SCHEME} <key>`; create keys with `manage.py apikey create`.",
        }
