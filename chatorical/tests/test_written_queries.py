"""A lookup written out in SQL gives the instance the ORM would: every field, converted as
the ORM converts it (a JSON field comes from the database as text)."""

import pytest
from django.conf import settings

from tenants.models import Tenant
from tenants.selectors import tenant_get_default


def field_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_the_default_tenant_written_out_equals_the_orms_json_fields_included(default_tenant):
    Tenant.objects.filter(pk=default_tenant.pk).update(
        allowed_origins=["https://shop.example"], rate_limits={"message_send": {"conversation": {"limit": 7}}}
    )
    looked_up = tenant_get_default()
    assert field_values(looked_up) == field_values(Tenant.objects.get(slug=settings.DEFAULT_TENANT_SLUG))
    assert looked_up.rate_limits["message_send"]["conversation"]["limit"] == 7
    assert not looked_up._state.adding


def test_a_default_tenant_that_is_missing_raises_does_not_exist(default_tenant, settings):
    settings.DEFAULT_TENANT_SLUG = "no-such-tenant"
    with pytest.raises(Tenant.DoesNotExist, match="no-such-tenant"):
        tenant_get_default()
