"""The v1 admin template endpoints of the default tenant, behind the service token."""

import pytest
from django.conf import settings

from chatorical import tenancy
from templates_i18n.models import MessageTemplate
from templates_i18n.selectors import template_text
from templates_i18n.services import text_set

ENDPOINTS = [("get", "/v1/admin/templates"), ("post", "/v1/admin/templates"), ("delete", "/v1/admin/templates/1")]


@pytest.fixture
def service(default_tenant):
    return {"HTTP_AUTHORIZATION": f"Bearer {settings.SERVICE_TOKEN}"}


def upsert(client, service, body):
    return client.post("/v1/admin/templates", body, content_type="application/json", **service)


def default_welcome(default_tenant, locale=""):
    with tenancy.tenant_context(default_tenant):
        return template_text(tenant_id=default_tenant.id, key="welcome", locale=locale)


@pytest.mark.parametrize("method, path", ENDPOINTS)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Bearer ", "Api-Key x"])
def test_every_endpoint_needs_the_service_token(client, default_tenant, method, path, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = getattr(client, method)(path, **extra)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_service_token"


def test_upsert_list_and_delete(client, service, default_tenant):
    created = upsert(client, service, {"key": "welcome", "locale": "de_at", "text": "Servus {visitor_name}!"})
    assert created.status_code == 200
    template = created.json()["template"]
    assert (template["key"], template["locale"], template["text"]) == ("welcome", "de-AT", "Servus {visitor_name}!")
    assert default_welcome(default_tenant, "de-AT") == "Servus !"

    replaced = upsert(client, service, {"key": "welcome", "locale": "de-AT", "text": "Grüß Gott"})
    assert replaced.json()["template"]["id"] == template["id"]
    assert default_welcome(default_tenant, "de-AT") == "Grüß Gott"
    upsert(client, service, {"key": "offline", "locale": "en", "text": "Away"})

    listing = client.get("/v1/admin/templates", **service).json()["templates"]
    assert [(row["key"], row["locale"], row["text"]) for row in listing] == [
        ("offline", "en", "Away"),
        ("welcome", "de-AT", "Grüß Gott"),
    ]
    assert [row["key"] for row in client.get("/v1/admin/templates?key=welcome", **service).json()["templates"]] == [
        "welcome"
    ]
    assert [row["locale"] for row in client.get("/v1/admin/templates?locale=en", **service).json()["templates"]] == [
        "en"
    ]

    deleted = client.delete(f"/v1/admin/templates/{template['id']}", **service)
    assert deleted.status_code == 204
    assert default_welcome(default_tenant, "de-AT").startswith("Hi!")
    again = client.delete(f"/v1/admin/templates/{template['id']}", **service)
    assert again.status_code == 404 and again.json()["error"]["code"] == "template_not_found"


@pytest.mark.parametrize(
    "body, code",
    [
        ({"key": "nope", "locale": "en", "text": "x"}, "unknown_key"),
        ({"key": ["welcome"], "locale": "en", "text": "x"}, "unknown_key"),
        ({"key": "welcome", "locale": 7, "text": "x"}, "invalid_locale"),
        ({"key": "welcome", "text": "x"}, "invalid_locale"),
        ({"key": "welcome", "locale": "en"}, "empty_text"),
        ({"key": "welcome", "locale": "en", "text": "a\x00b"}, "invalid_text"),
        ({"key": "welcome", "locale": "en", "text": "{agent}"}, "unknown_placeholder"),
    ],
)
def test_bad_templates_are_a_clear_400(client, service, default_tenant, body, code):
    response = upsert(client, service, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    with tenancy.tenant_context(default_tenant):
        assert not MessageTemplate.objects.exists()


def test_bad_json_and_other_methods(client, service):
    broken = client.post("/v1/admin/templates", "{nope", content_type="application/json", **service)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    assert client.put("/v1/admin/templates", **service).status_code == 405
    assert client.get("/v1/admin/templates/1", **service).status_code == 405
    assert client.delete("/v1/admin/templates/99999999999999999999", **service).status_code == 404


def test_never_another_tenants_templates(client, service, default_tenant, other_tenant):
    with tenancy.tenant_context(other_tenant):
        theirs = text_set(tenant=other_tenant, kind="template", key="welcome", locale="en", text="Acme welcome")
    assert client.get("/v1/admin/templates", **service).json() == {"templates": []}
    assert client.delete(f"/v1/admin/templates/{theirs.pk}", **service).status_code == 404
    upsert(client, service, {"key": "welcome", "locale": "en", "text": "Default welcome"})
    with tenancy.tenant_context(other_tenant):
        assert MessageTemplate.objects.get(pk=theirs.pk).text == "Acme welcome"
    assert default_welcome(default_tenant) == "Default welcome"
