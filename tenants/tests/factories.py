"""Builders for tenant rows in tests."""

from chatorical import tenancy
from tenants.models import Membership


def staff_of(django_user_model, tenant, role, username=None):
    """A staff user who is a member of `tenant` with `role`."""
    user = django_user_model.objects.create_user(username or f"{tenant.slug}-{role}", password="pw", is_staff=True)
    with tenancy.tenant_context(tenant):
        Membership.objects.create(user=user, tenant=tenant, role=role)
    return user
