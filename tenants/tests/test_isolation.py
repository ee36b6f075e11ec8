"""Isolation proofs: with two tenants side by side, every API endpoint, every v1 admin
endpoint and every admin changelist answers 404/403 for the other tenant's objects and
never shows them in a list or an export.

Each table below is checked against the URL configuration / admin registry, so a new
endpoint or admin without an isolation case fails here.
"""

import pytest
from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, get_resolver

from audit.models import AuditEntry
from billing.models import BillingEvent, Subscription
from billing.services import subscription_link, tenant_plan_set
from chatorical import tenancy
from chatorical.tenant_models import TenantOwned
from conversations.models import Conversation, Message, OutboxEvent
from conversations.tests.factories import conversation_for, message_for
from templates_i18n.models import MessageTemplate, UiString
from templates_i18n.services import text_set
from tenants.models import ApiKey, Membership, TelegramConfig
from tenants.services import telegram_config_set

# --- the /api/v2 API ---------------------------------------------------------------------

# (method, path, body) of every endpoint that names a conversation.
API_OBJECT_ENDPOINTS = [
    ("get", "conversations/{id}/", None),
    ("get", "conversations/{id}/messages/", None),
    ("post", "conversations/{id}/messages/", {"text": "cross-tenant write"}),
    ("post", "conversations/{id}/close/", None),
    ("get", "exports/{id}/", None),
    ("get", "conversations/{id}/export", None),
    ("post", "conversations/{id}/erase", None),
]
# Every listing endpoint: the other tenant's rows must not appear in any page.
API_LIST_ENDPOINTS = ["conversations/", "exports/", "usage/"]
# (method, path, body) of every endpoint that names a template or UI string.
TEXT_OBJECT_ENDPOINTS = [
    ("get", "templates/{id}/", None),
    ("put", "templates/{id}/", {"key": "welcome", "locale": "en", "text": "cross-tenant write"}),
    ("patch", "templates/{id}/", {"text": "cross-tenant write"}),
    ("delete", "templates/{id}/", None),
    ("get", "strings/{id}/", None),
    ("put", "strings/{id}/", {"key": "title", "locale": "en", "text": "cross-tenant write"}),
    ("patch", "strings/{id}/", {"text": "cross-tenant write"}),
    ("delete", "strings/{id}/", None),
]
# Listings of texts, and the kind of text each lists.
TEXT_LIST_ENDPOINTS = {"templates/": "template", "strings/": "ui"}
API_PREVIEW = ["templates/preview/"]  # resolves the key's tenant's texts only
API_PUBLIC = ["schema/", "templates/catalog/", "strings/catalog/"]  # these name no tenant's data
# The audit log and the streamed exports: lifecycle/tests checks that nothing of another
# tenant is in any page or stream of them.
API_STREAMED = ["exports/stream", "audit/", "audit/export"]


def api_routes() -> set[str]:
    return {
        str(pattern.pattern)
        for module in ("chatorical.urls_api", "lifecycle.api.urls")
        for pattern in get_resolver(module).url_patterns
    }


def test_every_api_route_has_an_isolation_case():
    covered = {path.replace("{id}", "<uuid:conversation_id>") for _, path, _ in API_OBJECT_ENDPOINTS}
    covered |= {path.replace("{id}", "<int:id>") for _, path, _ in TEXT_OBJECT_ENDPOINTS}
    lists = set(API_LIST_ENDPOINTS) | set(TEXT_LIST_ENDPOINTS)
    assert api_routes() == covered | lists | set(API_STREAMED) | set(API_PREVIEW) | set(API_PUBLIC)


def key(world):
    return {"HTTP_AUTHORIZATION": f"Api-Key {world.key}"}


def call(client, method, path, body, headers):
    return getattr(client, method)(f"/api/v2/{path}", body, content_type="application/json", **headers)


@pytest.mark.parametrize("method, path, body", API_OBJECT_ENDPOINTS)
def test_a_key_of_tenant_a_on_tenant_bs_conversation_is_404(client, tenant_a, tenant_b, method, path, body):
    response = call(client, method, path.format(id=tenant_b.conversation.id), body, key(tenant_a))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "conversation_not_found"
    assert "tenant-b" not in response.content.decode()
    # And nothing changed on B's side.
    with tenancy.tenant_context(tenant_b.tenant):
        conversation = Conversation.objects.get(pk=tenant_b.conversation.pk)
        assert conversation.status == Conversation.Status.OPEN
        assert Message.objects.filter(conversation=conversation).count() == 2
    # The same request on A's own conversation works: the 404 is isolation, not breakage.
    own = call(client, method, path.format(id=tenant_a.conversation.id), body, key(tenant_a))
    assert own.status_code in (200, 201)


@pytest.mark.parametrize("method, path, body", API_OBJECT_ENDPOINTS)
def test_no_key_is_401_everywhere(client, tenant_b, method, path, body):
    assert call(client, method, path.format(id=tenant_b.conversation.id), body, {}).status_code == 401


@pytest.mark.parametrize("path", API_LIST_ENDPOINTS)
def test_lists_never_show_the_other_tenant(client, tenant_a, tenant_b, path):
    for n in range(3):  # more of B's rows than A's, across pages
        message_for(conversation_for(tenant_b.tenant, visitor_name=f"B extra {n}"), text=f"secret of b {n}")
    pages = []
    url = f"/api/v2/{path}?page_size=1"
    while url:
        response = client.get(url, **key(tenant_a))
        assert response.status_code == 200
        pages.append(response.content.decode())
        url = response.json().get("next")
    everything = "".join(pages)
    assert str(tenant_b.conversation.id) not in everything
    assert "tenant-b" not in everything and "of b" not in everything
    if path == "usage/":
        limits = response.json()["limits"]
        assert (limits["conversations"]["used"], limits["messages"]["used"]) == (1, 2)
    else:
        assert str(tenant_a.conversation.id) in everything
        assert len(pages) == 1  # A has one conversation: one page of one


def texts_of(world, label):
    """A welcome template and a title string of the world's tenant, both saying `label`."""
    with tenancy.tenant_context(world.tenant):
        world.template = text_set(tenant=world.tenant, kind="template", key="welcome", locale="en", text=label)
        world.string = text_set(tenant=world.tenant, kind="ui", key="title", locale="en", text=label)


@pytest.mark.parametrize("method, path, body", TEXT_OBJECT_ENDPOINTS)
def test_a_key_of_tenant_a_on_tenant_bs_text_is_404(client, tenant_a, tenant_b, method, path, body):
    texts_of(tenant_a, "text of a")
    texts_of(tenant_b, "text of b")
    row = "template" if path.startswith("templates/") else "string"
    response = call(client, method, path.format(id=getattr(tenant_b, row).pk), body, key(tenant_a))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == f"{row}_not_found"
    assert "of b" not in response.content.decode()
    # And nothing changed on B's side.
    with tenancy.tenant_context(tenant_b.tenant):
        assert [t.text for t in MessageTemplate.objects.all()] == ["text of b"]
        assert [s.text for s in UiString.objects.all()] == ["text of b"]
    own = call(client, method, path.format(id=getattr(tenant_a, row).pk), body, key(tenant_a))
    assert own.status_code in (200, 204)


@pytest.mark.parametrize("method, path, body", TEXT_OBJECT_ENDPOINTS)
def test_no_key_is_401_on_texts(client, tenant_b, method, path, body):
    texts_of(tenant_b, "text of b")
    assert call(client, method, path.format(id=tenant_b.template.pk), body, {}).status_code == 401


@pytest.mark.parametrize("path, kind", TEXT_LIST_ENDPOINTS.items())
def test_text_lists_never_show_the_other_tenant(client, tenant_a, tenant_b, path, kind):
    with tenancy.tenant_context(tenant_b.tenant):
        for locale in ("de", "fr", "it"):  # more of B's rows than A's, across pages
            text_set(tenant=tenant_b.tenant, kind=kind, key="offline", locale=locale, text=f"secret of b {locale}")
    with tenancy.tenant_context(tenant_a.tenant):
        mine = text_set(tenant=tenant_a.tenant, kind=kind, key="offline", locale="de", text="text of a")
    pages = []
    url = f"/api/v2/{path}?page_size=1"
    while url:
        response = client.get(url, **key(tenant_a))
        assert response.status_code == 200
        pages.append(response.json())
        url = response.json()["next"]
    assert [row["id"] for page in pages for row in page["results"]] == [mine.pk]
    assert "of b" not in str(pages)
    for query in ("?key=offline", "?locale=de", "?locale=fr"):
        listed = client.get(f"/api/v2/{path}{query}", **key(tenant_a)).json()["results"]
        assert "of b" not in str(listed)


def test_preview_resolves_the_keys_tenants_texts_only(client, tenant_a, tenant_b):
    with tenancy.tenant_context(tenant_b.tenant):
        text_set(tenant=tenant_b.tenant, kind="template", key="welcome", locale="de", text="Hallo von B")
    body = {"key": "welcome", "locale": "de"}
    preview = call(client, "post", "templates/preview/", body, key(tenant_a)).json()
    assert preview["fallback_step"] == "builtin" and "von B" not in preview["text"]
    with tenancy.tenant_context(tenant_a.tenant):
        text_set(tenant=tenant_a.tenant, kind="template", key="welcome", locale="de", text="Hallo von {tenant}")
    preview = call(client, "post", "templates/preview/", body, key(tenant_a)).json()
    assert (preview["text"], preview["fallback_step"]) == ("Hallo von Tenant tenant-a", "exact")


# --- the v1 admin endpoints (default tenant, service token) ------------------------------

V1_ADMIN_ENDPOINTS = {
    "v1/admin/conversations": "list",
    "v1/admin/export": "list",
    "v1/admin/conversations/<str:conversation_id>/export": "object",
    "v1/admin/conversations/bulk-delete": "delete",
    "v1/admin/templates": "templates",
    "v1/admin/templates/<int:template_id>": "template",
}


def test_every_v1_admin_route_has_an_isolation_case():
    routes = {
        str(pattern.pattern)
        for pattern in get_resolver().url_patterns
        if isinstance(pattern, URLPattern) and str(pattern.pattern).startswith("v1/admin/")
    }
    assert routes == set(V1_ADMIN_ENDPOINTS)


@pytest.fixture
def service(default_tenant):
    return {"HTTP_AUTHORIZATION": f"Bearer {settings.SERVICE_TOKEN}"}


@pytest.mark.parametrize("path", [p for p, kind in V1_ADMIN_ENDPOINTS.items() if kind == "list"])
def test_v1_admin_lists_show_the_default_tenant_only(client, service, default_tenant, tenant_b, path):
    mine = conversation_for(default_tenant, visitor_name="Default visitor")
    body = client.get(f"/{path}", **service).content.decode()
    assert str(mine.id) in body
    assert str(tenant_b.conversation.id) not in body and "tenant-b" not in body


def test_v1_admin_export_of_another_tenants_conversation_is_404(client, service, tenant_b):
    response = client.get(f"/v1/admin/conversations/{tenant_b.conversation.id}/export", **service)
    assert response.status_code == 404
    assert "tenant-b" not in response.content.decode()


def test_v1_admin_bulk_delete_cannot_touch_another_tenant(client, service, tenant_b):
    response = client.post(
        "/v1/admin/conversations/bulk-delete",
        {"ids": [str(tenant_b.conversation.id)]},
        content_type="application/json",
        **service,
    )
    assert response.json() == {"deleted": [], "not_found": [str(tenant_b.conversation.id)]}
    with tenancy.tenant_context(tenant_b.tenant):
        assert Conversation.objects.filter(pk=tenant_b.conversation.pk).exists()


def test_v1_admin_templates_are_the_default_tenants_only(client, service, default_tenant, tenant_b):
    texts_of(tenant_b, "text of b")
    with tenancy.tenant_context(default_tenant):
        mine = text_set(tenant=default_tenant, kind="template", key="welcome", locale="en", text="text of default")
    listing = client.get("/v1/admin/templates", **service)
    assert [row["id"] for row in listing.json()["templates"]] == [mine.pk]
    assert "of b" not in listing.content.decode()
    # The upsert writes the default tenant's row, never B's of the same key and locale.
    upsert = {"key": "welcome", "locale": "en", "text": "changed"}
    assert client.post("/v1/admin/templates", upsert, content_type="application/json", **service).status_code == 200
    with tenancy.tenant_context(tenant_b.tenant):
        assert MessageTemplate.objects.get(pk=tenant_b.template.pk).text == "text of b"


def test_v1_admin_template_delete_of_another_tenants_is_404(client, service, tenant_b):
    texts_of(tenant_b, "text of b")
    response = client.delete(f"/v1/admin/templates/{tenant_b.template.pk}", **service)
    assert response.status_code == 404
    assert "of b" not in response.content.decode()
    with tenancy.tenant_context(tenant_b.tenant):
        assert MessageTemplate.objects.filter(pk=tenant_b.template.pk).exists()


# --- the Django admin --------------------------------------------------------------------

BOT_TOKEN = "444444444:AAIsolationBotToken_0123456789abcdef"

# Every tenant-owned model in the admin, and how a member of tenant A may reach it.
ADMIN_CHANGELISTS = {
    Conversation: "conversations/conversation",
    Message: "conversations/message",
    OutboxEvent: "conversations/outboxevent",
    ApiKey: "tenants/apikey",
    TelegramConfig: "tenants/telegramconfig",
    MessageTemplate: "templates_i18n/messagetemplate",
    UiString: "templates_i18n/uistring",
    AuditEntry: "audit/auditentry",
    BillingEvent: "billing/billingevent",
}
ADMIN_SUPERUSER_ONLY = {Membership: "tenants/membership", Subscription: "billing/subscription"}


def test_every_tenant_owned_admin_has_an_isolation_case():
    registered = {model for model in admin.site._registry if issubclass(model, TenantOwned)}
    assert registered == set(ADMIN_CHANGELISTS) | set(ADMIN_SUPERUSER_ONLY)


def the_row(world, model):
    """The tenant's row of `model` from the fixture world."""
    with tenancy.tenant_context(world.tenant):
        return {
            Conversation: lambda: world.conversation,
            Message: lambda: world.messages[0],
            OutboxEvent: lambda: OutboxEvent.objects.filter(conversation=world.conversation).first(),
            ApiKey: lambda: world.api_key,
            TelegramConfig: lambda: TelegramConfig.objects.get(),
            Membership: lambda: Membership.objects.first(),
            AuditEntry: lambda: AuditEntry.objects.filter(action="api_key.create").first(),
            MessageTemplate: lambda: text_set(
                tenant=world.tenant, kind="template", key="welcome", locale="en", text=f"Welcome, {world.tenant.slug}"
            ),
            UiString: lambda: text_set(
                tenant=world.tenant, kind="ui", key="title", locale="en", text=f"Chat with {world.tenant.slug}"
            ),
            BillingEvent: lambda: _plan_changed_event(world.tenant),
            Subscription: lambda: subscription_link(tenant=world.tenant, stripe_customer_id=f"cus_{world.tenant.id}"),
        }[model]()


def _plan_changed_event(tenant):
    tenant_plan_set(tenant=tenant, code="pro", source=BillingEvent.Source.CLI, actor="isolation test")
    return BillingEvent.objects.get()


@pytest.fixture
def two_worlds_in_the_admin(client, django_user_model, tenant_a, tenant_b):
    for world, secret in ((tenant_a, "hook-a-" + "a" * 32), (tenant_b, "hook-b-" + "b" * 32)):
        telegram_config_set(tenant=world.tenant, bot_token=BOT_TOKEN, support_group_id=1, webhook_secret=secret)
        user = django_user_model.objects.create_user(f"owner-{world.tenant.slug}", password="pw", is_staff=True)
        with tenancy.tenant_context(world.tenant):
            Membership.objects.create(user=user, tenant=world.tenant, role=Membership.Role.OWNER)
        world.owner = user
    client.force_login(tenant_a.owner)
    return tenant_a, tenant_b


@pytest.mark.parametrize("model", list(ADMIN_CHANGELISTS), ids=lambda m: m.__name__)
def test_admin_changelist_and_change_page_of_the_other_tenant(client, two_worlds_in_the_admin, model):
    tenant_a, tenant_b = two_worlds_in_the_admin
    url = f"/admin/{ADMIN_CHANGELISTS[model]}/"
    mine, theirs = the_row(tenant_a, model), the_row(tenant_b, model)
    listing = client.get(url)
    assert listing.status_code == 200
    content = listing.content.decode()
    assert f"{url}{mine.pk}/change/" in content
    assert f"{url}{theirs.pk}/change/" not in content
    assert "tenant-b" not in content
    # The other tenant's row is "not found": Django's admin redirects to its index.
    for page in ("change", "delete", "history"):
        response = client.get(f"{url}{theirs.pk}/{page}/")
        assert response.status_code in (302, 403, 404), page
        assert "tenant-b" not in response.content.decode()


@pytest.mark.parametrize("model", list(ADMIN_SUPERUSER_ONLY), ids=lambda m: m.__name__)
def test_superuser_only_admins_are_403_for_members(client, two_worlds_in_the_admin, model):
    tenant_a, tenant_b = two_worlds_in_the_admin
    url = f"/admin/{ADMIN_SUPERUSER_ONLY[model]}/"
    assert client.get(url).status_code == 403
    assert client.get(f"{url}{the_row(tenant_b, model).pk}/change/").status_code in (302, 403)


def test_admin_actions_cannot_reach_the_other_tenant(client, two_worlds_in_the_admin):
    tenant_a, tenant_b = two_worlds_in_the_admin
    client.post(
        "/admin/conversations/conversation/",
        {"action": "close", "_selected_action": [str(tenant_b.conversation.pk)]},
    )
    client.post("/admin/tenants/apikey/", {"action": "revoke", "_selected_action": [str(tenant_b.api_key.pk)]})
    with tenancy.tenant_context(tenant_b.tenant):
        assert Conversation.objects.get(pk=tenant_b.conversation.pk).status == Conversation.Status.OPEN
        assert ApiKey.objects.get(pk=tenant_b.api_key.pk).revoked_at is None


def test_admin_post_to_the_other_tenants_row_changes_nothing(client, two_worlds_in_the_admin):
    tenant_a, tenant_b = two_worlds_in_the_admin
    client.post(
        f"/admin/conversations/conversation/{tenant_b.conversation.pk}/change/",
        {"visitor_name": "Hijacked", "note": "x"},
    )
    client.post(f"/admin/conversations/conversation/{tenant_b.conversation.pk}/delete/", {"post": "yes"})
    with tenancy.tenant_context(tenant_b.tenant):
        assert Conversation.objects.get(pk=tenant_b.conversation.pk).visitor_name == "Visitor of tenant-b"
