from django.conf import settings

from tenants.models import Tenant


def tenant_get_active(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug, status=Tenant.Status.ACTIVE).first()


def tenant_get_default() -> Tenant:
    """The v1 deployment's tenant; created by a migration, so it always exists."""
    return Tenant.objects.get(slug=settings.DEFAULT_TENANT_SLUG)
