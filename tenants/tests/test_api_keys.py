"""API-key authentication and scopes, through the /api/v2 API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chatorical import tenancy
from tenants.models import ApiKey, Tenant
from tenants.services import api_key_create, api_key_revoke, api_key_touch

USAGE = "/api/v2/usage/"


def get(client, key=None, header=None):
    headers = {"HTTP_AUTHORIZATION": header if header is not None else f"Api-Key {key}"}
    return client.get(USAGE, **headers)


def test_a_valid_key_is_accepted(client, tenant_a):
    assert get(client, tenant_a.key).status_code == 200


def test_no_key_is_401_with_the_scheme(client, db):
    response = client.get(USAGE)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("header", ["Api-Key", "Api-Key ", "Api-Key chk_unknown", "Bearer something", "Api-Key \u00e9"])
def test_unknown_or_malformed_keys_are_401(client, tenant_a, header):
    response = get(client, header=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("invalid_api_key", "not_authenticated")


def test_the_service_token_is_not_an_api_key(client, tenant_a, settings):
    assert get(client, header=f"Bearer {settings.SERVICE_TOKEN}").status_code == 401
    assert get(client, header=f"Api-Key {settings.SERVICE_TOKEN}").status_code == 401


def test_a_revoked_key_is_401(client, tenant_a):
    api_key_revoke(api_key=tenant_a.api_key)
    response = get(client, tenant_a.key)
    assert response.status_code == 401
    assert response.json()["error"] == {"code": "invalid_api_key", "message": "Unknown or revoked API key."}


def test_a_suspended_tenants_key_is_401(client, tenant_a):
    Tenant.objects.filter(pk=tenant_a.tenant.pk).update(status=Tenant.Status.SUSPENDED)
    assert get(client, tenant_a.key).status_code == 401


def test_a_key_without_the_scope_is_403(client, tenant_a):
    key = api_key_create(tenant=tenant_a.tenant, name="Reader", scopes=[ApiKey.Scope.CONVERSATIONS_READ]).raw_key
    response = get(client, key)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This API key lacks the scope usage:read."


def test_last_use_is_written_at_most_once_a_minute(client, tenant_a, django_assert_max_num_queries):
    def last_used():
        with tenancy.tenant_context(tenant_a.tenant):
            return ApiKey.objects.get(pk=tenant_a.api_key.pk).last_used_at

    assert last_used() is None
    get(client, tenant_a.key)
    first = last_used()
    assert first is not None
    get(client, tenant_a.key)
    assert last_used() == first
    with tenancy.tenant_context(tenant_a.tenant):
        ApiKey.objects.filter(pk=tenant_a.api_key.pk).update(last_used_at=first - timedelta(minutes=2))
    get(client, tenant_a.key)
    assert last_used() > first


def test_touch_skips_the_write_for_a_fresh_key(tenant_a, django_assert_num_queries):
    tenant_a.api_key.last_used_at = timezone.now()
    with django_assert_num_queries(0):
        api_key_touch(api_key=tenant_a.api_key)


@pytest.mark.parametrize("scopes", [[], ["conversations:read", "admin:all"], "usage:read"])
def test_create_refuses_bad_scopes(tenant_a, scopes):
    from chatorical.errors import ApiError

    with pytest.raises(ApiError):
        api_key_create(tenant=tenant_a.tenant, name="Bad", scopes=scopes)
