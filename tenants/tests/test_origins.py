"""Per-tenant origin allowlists: `origin_allowed` and the CORS answers built on it."""

import pytest

from tenants.selectors import origin_allowed

PREFLIGHT = {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"}


@pytest.mark.parametrize(
    "origin, allowed",
    [
        ("https://tenant-a.example", True),
        ("https://TENANT-A.example:443", True),
        ("https://tenant-a.example/", True),
        ("http://tenant-a.example", False),
        ("https://tenant-a.example:8443", False),
        ("https://evil.example", False),
        ("https://tenant-a.example.evil.example", False),
        ("null", False),
        ("", False),
        ("not a url", False),
    ],
)
def test_origin_allowed_for_a_tenant(tenant_a, origin, allowed):
    assert origin_allowed(tenant=tenant_a.tenant, origin=origin) is allowed


def test_a_tenant_without_origins_allows_none(tenant_a):
    tenant_a.tenant.allowed_origins = []
    assert not origin_allowed(tenant=tenant_a.tenant, origin="https://tenant-a.example")


def test_default_tenant_uses_the_widget_setting_and_empty_means_any(default_tenant, settings):
    settings.WIDGET_ALLOWED_ORIGINS = []
    assert origin_allowed(tenant=default_tenant, origin="https://anything.example")
    settings.WIDGET_ALLOWED_ORIGINS = ["https://shop.example"]
    assert origin_allowed(tenant=default_tenant, origin="https://shop.example")
    assert not origin_allowed(tenant=default_tenant, origin="https://anything.example")


def preflight(client, path, origin):
    return client.options(path, HTTP_ORIGIN=origin, **PREFLIGHT)


def test_cors_on_v2_follows_the_tenants_allowlist(client, tenant_a, tenant_b):
    path = "/v2/tenants/tenant-a/conversations"
    allowed = preflight(client, path, "https://tenant-a.example")
    assert allowed["Access-Control-Allow-Origin"] == "https://tenant-a.example"
    assert "Access-Control-Allow-Credentials" not in allowed
    # Tenant B's site may not call tenant A's endpoints.
    assert "Access-Control-Allow-Origin" not in preflight(client, path, "https://tenant-b.example")
    assert "Access-Control-Allow-Origin" not in preflight(
        client, "/v2/tenants/nobody/conversations", "https://tenant-a.example"
    )


def test_cors_on_v2_is_not_opened_by_the_default_tenants_any_origin(client, tenant_a, default_tenant, settings):
    settings.WIDGET_ALLOWED_ORIGINS = []
    assert "Access-Control-Allow-Origin" not in preflight(
        client, "/v2/tenants/tenant-a/bootstrap", "https://evil.example"
    )
    assert (
        preflight(client, "/v1/start", "https://evil.example")["Access-Control-Allow-Origin"] == "https://evil.example"
    )


def test_cors_on_v1_follows_the_widget_setting(client, default_tenant, settings):
    settings.WIDGET_ALLOWED_ORIGINS = ["https://shop.example"]
    assert (
        preflight(client, "/v1/start", "https://shop.example")["Access-Control-Allow-Origin"] == "https://shop.example"
    )
    assert "Access-Control-Allow-Origin" not in preflight(client, "/v1/start", "https://evil.example")
    response = client.post("/v1/start", {}, content_type="application/json", HTTP_ORIGIN="https://shop.example")
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == "https://shop.example"


def test_the_integration_api_has_no_cors(client, tenant_a):
    response = preflight(client, "/api/v2/conversations/", "https://tenant-a.example")
    assert "Access-Control-Allow-Origin" not in response


def test_a_v2_request_looks_its_tenant_up_once(client, tenant_a):
    """The CORS check and the tenant middleware both need the path's tenant: one query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/v2/tenants/tenant-a/bootstrap", HTTP_ORIGIN="https://tenant-a.example")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://tenant-a.example"
    tenant_lookups = [q["sql"] for q in queries if 'FROM "tenants_tenant"' in q["sql"] and '"slug" =' in q["sql"]]
    assert len(tenant_lookups) == 1, tenant_lookups
