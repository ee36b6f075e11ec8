"""Per-tenant CORS: django-cors-headers asks `check_request_enabled` whether a request's
Origin may be answered, and we answer from the allowlist of the tenant the path is for."""

import re

from corsheaders.signals import check_request_enabled
from django.dispatch import receiver

from tenants.selectors import origin_allowed, request_tenant

V1_PATH_RE = re.compile(r"^/v1/")
V2_TENANT_PATH_RE = re.compile(r"^/v2/tenants/(?P<slug>[-\w]+)/")


def tenant_for_cors(request):
    """The tenant whose widget calls the request's path: the default tenant on v1, the
    slug's on v2."""
    if V1_PATH_RE.match(request.path_info):
        return request_tenant(request, None)
    match = V2_TENANT_PATH_RE.match(request.path_info)
    return request_tenant(request, match["slug"]) if match else None


@receiver(check_request_enabled)
def cors_allow_tenant_origin(sender, request, **kwargs) -> bool:
    origin = request.headers.get("Origin")
    if not origin:
        return False
    tenant = tenant_for_cors(request)
    return tenant is not None and origin_allowed(tenant=tenant, origin=origin)
