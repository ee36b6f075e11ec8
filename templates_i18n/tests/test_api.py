"""Templates and UI strings in the /api/v2 API, through HTTP. Cross-tenant proofs are in
tenants/tests/test_isolation.py with every other endpoint's."""

import pytest
import yaml

from chatorical import tenancy
from templates_i18n.catalog import TEMPLATES, UI_STRINGS
from templates_i18n.models import LegacyMessageTemplate
from templates_i18n.selectors import template_text
from templates_i18n.services import text_set
from tenants.models import ApiKey
from tenants.services import api_key_create

Scope = ApiKey.Scope
# (path, kind, a key of that kind with a placeholder other than {tenant})
KINDS = [("templates", "template", "welcome", "visitor_name"), ("strings", "ui", "agent_joined", "agent")]


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


def key_with(tenant, *scopes):
    return api_key_create(tenant=tenant, name="Limited", scopes=list(scopes)).raw_key


def call(client, method, path, body=None, *, key):
    return getattr(client, method)(f"/api/v2/{path}", body, content_type="application/json", **auth(key))


def error(response):
    return response.json()["error"]["code"]


def stored(world, kind, key, locale, text):
    with tenancy.tenant_context(world.tenant):
        return text_set(tenant=world.tenant, kind=kind, key=key, locale=locale, text=text)


# --- CRUD ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path, kind, key, placeholder", KINDS)
def test_create_read_update_delete(client, tenant_a, path, kind, key, placeholder):
    created = call(
        client,
        "post",
        f"{path}/",
        {"key": key, "locale": "de_at", "text": f"Hallo {{{placeholder}}}"},
        key=tenant_a.key,
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {"id", "key", "locale", "text", "updated_at"}
    assert (body["key"], body["locale"], body["text"]) == (key, "de-AT", f"Hallo {{{placeholder}}}")
    url = f"{path}/{body['id']}/"

    assert call(client, "get", url, key=tenant_a.key).json() == body
    assert [row["id"] for row in call(client, "get", f"{path}/", key=tenant_a.key).json()["results"]] == [body["id"]]

    replaced = call(client, "put", url, {"key": key, "locale": "de", "text": "Servus"}, key=tenant_a.key)
    assert replaced.status_code == 200
    assert (replaced.json()["locale"], replaced.json()["text"]) == ("de", "Servus")

    patched = call(client, "patch", url, {"text": "Grüß Gott  "}, key=tenant_a.key)
    assert patched.status_code == 200
    assert (patched.json()["locale"], patched.json()["text"]) == ("de", "Grüß Gott  ")
    assert patched.json()["updated_at"] >= body["updated_at"]

    deleted = call(client, "delete", url, key=tenant_a.key)
    assert deleted.status_code == 204 and deleted.content == b""
    gone = call(client, "get", url, key=tenant_a.key)
    assert gone.status_code == 404
    assert error(gone) == ("template_not_found" if kind == "template" else "string_not_found")


def test_api_writes_take_effect_at_once(client, tenant_a):
    def welcome():
        with tenancy.tenant_context(tenant_a.tenant):
            return template_text(tenant_id=tenant_a.tenant.id, key="welcome")

    assert welcome().startswith("Hi!")
    row = call(client, "post", "templates/", {"key": "welcome", "locale": "en", "text": "One"}, key=tenant_a.key)
    assert welcome() == "One"
    call(client, "patch", f"templates/{row.json()['id']}/", {"text": "Two"}, key=tenant_a.key)
    assert welcome() == "Two"
    call(client, "delete", f"templates/{row.json()['id']}/", key=tenant_a.key)
    assert welcome().startswith("Hi!")


def test_api_strings_reach_the_widget_bootstrap(client, tenant_a):
    call(client, "post", "strings/", {"key": "send_button", "locale": "de", "text": "Senden"}, key=tenant_a.key)
    bootstrap = client.get("/v2/tenants/tenant-a/bootstrap?locale=de-AT").json()
    assert bootstrap["strings"]["send_button"] == "Senden"


# --- scopes -------------------------------------------------------------------------------

ENDPOINTS = [
    ("get", "templates/", None, Scope.TEMPLATES_READ),
    ("post", "templates/", {"key": "offline", "locale": "fr", "text": "Hors ligne"}, Scope.TEMPLATES_WRITE),
    ("get", "templates/{id}/", None, Scope.TEMPLATES_READ),
    ("put", "templates/{id}/", {"key": "welcome", "locale": "en", "text": "Hi"}, Scope.TEMPLATES_WRITE),
    ("patch", "templates/{id}/", {"text": "Hi"}, Scope.TEMPLATES_WRITE),
    ("delete", "templates/{id}/", None, Scope.TEMPLATES_WRITE),
    ("post", "templates/preview/", {"key": "welcome", "locale": "en"}, Scope.TEMPLATES_READ),
    ("get", "templates/catalog/", None, Scope.TEMPLATES_READ),
    ("get", "strings/", None, Scope.TEMPLATES_READ),
    ("post", "strings/", {"key": "offline", "locale": "fr", "text": "Hors ligne"}, Scope.TEMPLATES_WRITE),
    ("get", "strings/{id}/", None, Scope.TEMPLATES_READ),
    ("put", "strings/{id}/", {"key": "title", "locale": "en", "text": "Hi"}, Scope.TEMPLATES_WRITE),
    ("patch", "strings/{id}/", {"text": "Hi"}, Scope.TEMPLATES_WRITE),
    ("delete", "strings/{id}/", None, Scope.TEMPLATES_WRITE),
    ("get", "strings/catalog/", None, Scope.TEMPLATES_READ),
]


@pytest.mark.parametrize("method, path, body, scope", ENDPOINTS)
def test_each_endpoint_needs_its_scope(client, tenant_a, method, path, body, scope):
    ids = {
        "templates": stored(tenant_a, "template", "welcome", "en", "Hello").pk,
        "strings": stored(tenant_a, "ui", "title", "en", "Hello").pk,
    }
    path = path.format(id=ids[path.split("/")[0]])
    others = [s for s in Scope.values if s != scope]
    without = call(client, method, path, body, key=key_with(tenant_a.tenant, *others))
    assert without.status_code == 403
    assert without.json()["error"] == {"code": "forbidden", "message": f"This API key lacks the scope {scope}."}
    assert call(client, method, path, body, key=key_with(tenant_a.tenant, scope)).status_code in (200, 201, 204)
    assert call(client, method, path, body, key="chk_unknown").status_code == 401


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, code",
    [
        ({"key": "nope", "locale": "en", "text": "x"}, "unknown_key"),
        ({"key": "", "locale": "en", "text": "x"}, "unknown_key"),
        ({"key": "welcome", "locale": "not a locale", "text": "x"}, "invalid_locale"),
        ({"key": "welcome", "locale": "", "text": "x"}, "invalid_locale"),
        ({"key": "welcome", "locale": "de" + "-abcdefgh" * 5, "text": "x"}, "invalid_locale"),
        ({"key": "welcome", "locale": "en", "text": ""}, "empty_text"),
        ({"key": "welcome", "locale": "en", "text": "   "}, "empty_text"),
        ({"key": "welcome", "locale": "en", "text": "x" * 4001}, "text_too_long"),
        ({"key": "welcome", "locale": "en", "text": "Hi {agent}"}, "unknown_placeholder"),
        ({"key": "welcome", "locale": "en", "text": "Hi {visitor_name.__class__}"}, "invalid_placeholder"),
        ({"key": "welcome", "locale": "en", "text": "Hi {"}, "invalid_template"),
        ({"key": "welcome", "locale": "en", "text": "a\x00b"}, "invalid"),
        ({"key": "welcome", "locale": "en", "text": 5}, "invalid"),
        ({"key": "welcome", "locale": "en"}, "invalid"),
        ({"key": ["welcome"], "locale": "en", "text": "x"}, "invalid"),
    ],
)
def test_bad_texts_are_refused_with_a_clear_400(client, tenant_a, body, code):
    response = call(client, "post", "templates/", body, key=tenant_a.key)
    assert response.status_code == 400
    assert error(response) == code
    assert response.json()["error"]["message"]
    assert call(client, "get", "templates/", key=tenant_a.key).json()["count"] == 0


def test_unknown_placeholder_names_the_allowed_ones(client, tenant_a):
    response = call(client, "post", "templates/", {"key": "welcome", "locale": "en", "text": "{x}"}, key=tenant_a.key)
    assert "{x}" in response.json()["error"]["message"]
    assert "{visitor_name}" in response.json()["error"]["message"]


def test_bad_json_is_400(client, tenant_a):
    response = client.post("/api/v2/templates/", "{nope", content_type="application/json", **auth(tenant_a.key))
    assert response.status_code == 400 and error(response) == "invalid_json"


def test_a_second_text_for_the_same_key_and_locale_is_a_409(client, tenant_a):
    first = call(client, "post", "templates/", {"key": "welcome", "locale": "de", "text": "A"}, key=tenant_a.key)
    again = call(client, "post", "templates/", {"key": "welcome", "locale": "DE", "text": "B"}, key=tenant_a.key)
    assert again.status_code == 409 and error(again) == "duplicate"
    other = call(client, "post", "templates/", {"key": "welcome", "locale": "fr", "text": "C"}, key=tenant_a.key)
    moved = call(client, "patch", f"templates/{other.json()['id']}/", {"locale": "de"}, key=tenant_a.key)
    assert moved.status_code == 409 and error(moved) == "duplicate"
    unchanged = call(client, "get", f"templates/{first.json()['id']}/", key=tenant_a.key).json()
    assert unchanged["text"] == "A"


def test_the_same_key_and_locale_may_be_a_template_and_a_string(client, tenant_a):
    body = {"key": "offline", "locale": "en", "text": "Offline"}
    assert call(client, "post", "templates/", body, key=tenant_a.key).status_code == 201
    assert call(client, "post", "strings/", body, key=tenant_a.key).status_code == 201


@pytest.mark.parametrize("body, code", [({"text": ""}, "empty_text"), ({"key": "title"}, "unknown_key")])
def test_updates_are_validated_too(client, tenant_a, body, code):
    row = stored(tenant_a, "template", "welcome", "en", "Hello")
    response = call(client, "patch", f"templates/{row.pk}/", body, key=tenant_a.key)
    assert response.status_code == 400 and error(response) == code


@pytest.mark.parametrize("text_id", ["0", "999999", "99999999999999999999"])
def test_unknown_ids_are_404(client, tenant_a, text_id):
    response = call(client, "get", f"templates/{text_id}/", key=tenant_a.key)
    assert response.status_code == 404 and error(response) == "template_not_found"


def test_other_methods_are_405(client, tenant_a):
    assert call(client, "delete", "templates/", key=tenant_a.key).status_code == 405
    assert call(client, "get", "templates/preview/", key=tenant_a.key).status_code == 405
    assert call(client, "post", "templates/catalog/", key=tenant_a.key).status_code == 405


# --- listing ------------------------------------------------------------------------------


def test_list_pages_in_key_and_locale_order(client, tenant_a):
    for locale in ("fr", "de", "it"):
        stored(tenant_a, "template", "welcome", locale, f"welcome {locale}")
    stored(tenant_a, "template", "offline", "de", "offline de")
    first = call(client, "get", "templates/?page_size=3", key=tenant_a.key).json()
    assert first["count"] == 4
    assert [(row["key"], row["locale"]) for row in first["results"]] == [
        ("offline", "de"),
        ("welcome", "de"),
        ("welcome", "fr"),
    ]
    second = client.get(first["next"], **auth(tenant_a.key)).json()
    assert [(row["key"], row["locale"]) for row in second["results"]] == [("welcome", "it")]
    assert second["next"] is None
    past = call(client, "get", "templates/?page=9", key=tenant_a.key)
    assert past.status_code == 404 and error(past) == "not_found"


def test_list_filters_by_key_and_locale(client, tenant_a):
    stored(tenant_a, "template", "welcome", "de-AT", "Servus")
    stored(tenant_a, "template", "welcome", "de", "Hallo")
    stored(tenant_a, "template", "offline", "de-AT", "Weg")

    def listed(query):
        return [row["text"] for row in call(client, "get", f"templates/?{query}", key=tenant_a.key).json()["results"]]

    assert listed("key=welcome") == ["Hallo", "Servus"]
    assert listed("locale=de_at") == ["Weg", "Servus"]
    assert listed("key=welcome&locale=de") == ["Hallo"]
    assert listed("key=nope") == [] and listed("locale=xx") == []
    assert len(listed("key=&locale=")) == 3


# --- preview ------------------------------------------------------------------------------


def preview(client, world, **body):
    return call(client, "post", "templates/preview/", body, key=world.key)


def test_preview_resolves_through_the_fallback_chain(client, tenant_a):
    tenant = tenant_a.tenant
    stored(tenant_a, "template", "welcome", "de-CH", "Grüezi {visitor_name}")
    stored(tenant_a, "template", "welcome", "de", "Hallo {visitor_name} bei {tenant}")
    stored(tenant_a, "template", "welcome", "fr", "Bonjour")
    variables = {"visitor_name": "Ada"}

    def steps(locale):
        body = preview(client, tenant_a, key="welcome", locale=locale, variables=variables).json()
        return body["text"], body["locale_used"], body["fallback_step"]

    assert steps("de_ch") == ("Grüezi Ada", "de-CH", "exact")
    assert steps("de-AT") == ("Hallo Ada bei Tenant tenant-a", "de", "language")
    assert steps("pt-BR")[2] == "builtin"
    tenant.default_locale = "fr"
    tenant.save()
    assert steps("pt-BR") == ("Bonjour", "fr", "tenant_default")
    stored(tenant_a, "template", "offline", "en", "Back soon, says {tenant}")
    body = preview(client, tenant_a, key="offline", locale="pt").json()
    assert (body["text"], body["locale_used"], body["fallback_step"]) == (
        "Back soon, says Tenant tenant-a",
        "en",
        "builtin_locale",
    )
    body = preview(client, tenant_a, key="rate_limited", locale="de", variables={"seconds": "30"}).json()
    assert body == {
        "text": "You are sending messages too fast; try again in 30 s.",
        "key": "rate_limited",
        "locale_used": "en",
        "fallback_step": "builtin",
    }


def test_preview_of_the_default_tenant_reaches_its_v1_templates(client, default_tenant):
    LegacyMessageTemplate.objects.create(key="welcome", locale="de", text="Willkommen (v1)")
    key = key_with(default_tenant, Scope.TEMPLATES_READ)
    body = call(client, "post", "templates/preview/", {"key": "welcome", "locale": "de-AT"}, key=key).json()
    assert (body["text"], body["locale_used"], body["fallback_step"]) == ("Willkommen (v1)", "de", "legacy")


def test_preview_of_a_draft_is_validated_like_a_save_and_saves_nothing(client, tenant_a):
    body = preview(
        client, tenant_a, key="welcome", locale="de_at", text="Hi {visitor_name}!", variables={"visitor_name": "Ada"}
    ).json()
    assert body == {"text": "Hi Ada!", "key": "welcome", "locale_used": "de-AT", "fallback_step": "draft"}
    assert call(client, "get", "templates/", key=tenant_a.key).json()["count"] == 0
    stored(tenant_a, "template", "welcome", "de-AT", "Stored")
    assert preview(client, tenant_a, key="welcome", locale="de-AT", text="Draft").json()["text"] == "Draft"


@pytest.mark.parametrize(
    "body, code",
    [
        ({"key": "welcome", "locale": "en", "text": "Hi {agent}"}, "unknown_placeholder"),
        ({"key": "welcome", "locale": "en", "text": "Hi {visitor_name!r}"}, "invalid_placeholder"),
        ({"key": "welcome", "locale": "en", "text": ""}, "empty_text"),
        ({"key": "welcome", "locale": "en", "variables": {"agent": "Bob"}}, "unknown_variable"),
        ({"key": "nope", "locale": "en"}, "unknown_key"),
        ({"key": "welcome", "locale": "?"}, "invalid_locale"),
        ({"key": "welcome"}, "invalid"),
        ({"key": "welcome", "locale": "en", "variables": ["visitor_name"]}, "invalid"),
        ({"key": "welcome", "locale": "en", "variables": {"visitor_name": "x" * 1001}}, "invalid"),
    ],
)
def test_bad_previews_are_a_clear_400(client, tenant_a, body, code):
    response = preview(client, tenant_a, **body)
    assert response.status_code == 400
    assert error(response) == code


# --- catalog ------------------------------------------------------------------------------


@pytest.mark.parametrize("path, catalog", [("templates/catalog/", TEMPLATES), ("strings/catalog/", UI_STRINGS)])
def test_catalog_lists_every_key_with_its_english_text_and_placeholders(client, tenant_a, path, catalog):
    response = call(client, "get", path, key=key_with(tenant_a.tenant, Scope.TEMPLATES_READ))
    assert response.status_code == 200
    entries = {entry["key"]: entry for entry in response.json()}
    assert set(entries) == set(catalog)
    for key, entry in catalog.items():
        assert entries[key]["text"] == entry.text
        assert entries[key]["placeholders"] == sorted(entry.placeholders | {"tenant"})


# --- schema -------------------------------------------------------------------------------


def test_schema_describes_texts_preview_and_catalog(client):
    schema = yaml.safe_load(client.get("/api/v2/schema/").content)
    components = schema["components"]["schemas"]
    assert set(components["Text"]["properties"]) == {"id", "key", "locale", "text", "updated_at"}
    assert components["TextWriteRequest"]["required"] == ["key", "locale", "text"]
    assert "required" not in components["PatchedTextWriteRequest"]
    assert set(components["PreviewRequest"]["properties"]) == {"key", "locale", "variables", "text"}
    assert set(components["PreviewResult"]["properties"]) == {"text", "key", "locale_used", "fallback_step"}
    steps = components[components["PreviewResult"]["properties"]["fallback_step"]["allOf"][0]["$ref"].split("/")[-1]]
    assert set(steps["enum"]) == {"exact", "language", "tenant_default", "builtin_locale", "legacy", "builtin", "draft"}
    paths = schema["paths"]
    assert set(paths["/api/v2/templates/"]["post"]["responses"]) == {"201", "400", "401", "403", "409"}
    assert set(paths["/api/v2/templates/{id}/"]["delete"]["responses"]) == {"204", "401", "403", "404"}
    assert paths["/api/v2/templates/{id}/"]["get"]["parameters"][0]["schema"]["type"] == "integer"
    listed = paths["/api/v2/strings/"]["get"]
    assert {p["name"] for p in listed["parameters"]} == {"key", "locale", "page", "page_size"}
    assert listed["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("PaginatedTextList")
    catalog = paths["/api/v2/templates/catalog/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert catalog["items"]["$ref"].endswith("CatalogEntry")
