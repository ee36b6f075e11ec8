"""Tenant staff in the Django admin: their tenant's rows only, by their role."""

import re

import pytest

from chatorical import tenancy
from conversations.models import Conversation, OutboxEvent
from tenants.models import ApiKey, Membership, TelegramConfig
from tenants.selectors import api_key_hash, telegram_settings_for
from tenants.services import telegram_config_set
from tenants.tests.factories import staff_of

BOT_TOKEN = "555555555:AAAdminFormBotToken_0123456789abcdef"
ADMIN_HOOK_SECRET = "admin-hook-secret-0123456789abcdef0123"
TAKEN_SECRET = "taken-secret-0123456789abcdef0123456789"


@pytest.fixture
def owner_a(client, django_user_model, tenant_a):
    user = staff_of(django_user_model, tenant_a.tenant, Membership.Role.OWNER)
    client.force_login(user)
    return user


def test_index_lists_the_tenants_models_only(client, owner_a):
    response = client.get("/admin/")
    assert response.status_code == 200
    content = response.content.decode()
    for url in ("/admin/conversations/conversation/", "/admin/tenants/apikey/", "/admin/tenants/telegramconfig/"):
        assert url in content
    assert "/admin/tenants/tenant/" not in content
    assert "/admin/tenants/membership/" not in content


def test_changelist_shows_only_the_members_tenant(client, owner_a, tenant_a, tenant_b):
    content = client.get("/admin/conversations/conversation/").content.decode()
    assert "Visitor of tenant-a" in content
    assert "Visitor of tenant-b" not in content
    response = client.get(f"/admin/conversations/conversation/{tenant_b.conversation.pk}/change/")
    assert response.status_code == 302
    assert "Visitor of tenant-b" not in client.get(response.url).content.decode()


def test_admin_pages_carry_a_content_security_policy(client, owner_a):
    policy = client.get("/admin/")["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_admin_pages_work_under_the_policy(client, django_user_model, tenant_a):
    """The policy allows no inline script: the admin's pages must have none."""
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    pages = [
        "/admin/",
        "/admin/conversations/conversation/",
        f"/admin/conversations/conversation/{tenant_a.conversation.pk}/change/",
        "/admin/conversations/outboxevent/",
        "/admin/tenants/apikey/add/",
        "/admin/tenants/telegramconfig/add/",
        "/admin/tenants/tenant/",
    ]
    for page in pages:
        html = client.get(page).content.decode()
        for tag in re.findall(r"<script[^>]*>", html):
            assert "src=" in tag or "application/json" in tag, (page, tag)
        assert not re.search(r"\son[a-z]+=", html), page


def test_staff_without_membership_sees_no_tenant_data(client, django_user_model, tenant_a):
    client.force_login(django_user_model.objects.create_user("drifter", password="pw", is_staff=True))
    assert "/admin/conversations/conversation/" not in client.get("/admin/").content.decode()
    assert client.get("/admin/conversations/conversation/").status_code == 403


def test_viewer_reads_but_cannot_change(client, django_user_model, tenant_a):
    client.force_login(staff_of(django_user_model, tenant_a.tenant, Membership.Role.VIEWER))
    url = f"/admin/conversations/conversation/{tenant_a.conversation.pk}/change/"
    assert client.get(url).status_code == 200
    assert client.post(url, {"visitor_name": "Changed", "note": ""}).status_code == 403
    assert client.get("/admin/tenants/telegramconfig/").status_code == 403


def test_agent_renames_and_closes_through_the_services(client, django_user_model, tenant_a):
    client.force_login(staff_of(django_user_model, tenant_a.tenant, Membership.Role.AGENT))
    url = f"/admin/conversations/conversation/{tenant_a.conversation.pk}/change/"
    response = client.post(url, {"visitor_name": "Ada  Lovelace", "note": "VIP"})
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenancy.tenant_context(tenant_a.tenant):
        conversation = Conversation.objects.get(pk=tenant_a.conversation.pk)
        kinds = list(OutboxEvent.objects.filter(conversation=conversation).values_list("kind", flat=True))
    assert (conversation.visitor_name, conversation.note) == ("Ada Lovelace", "VIP")
    assert {"ConversationRenamed", "ConversationNoted"} <= set(kinds)
    client.post(
        "/admin/conversations/conversation/",
        {"action": "close", "_selected_action": [str(tenant_a.conversation.pk)]},
    )
    with tenancy.tenant_context(tenant_a.tenant):
        assert Conversation.objects.get(pk=tenant_a.conversation.pk).status == "closed"


def test_creating_an_api_key_shows_it_once(client, owner_a, tenant_a):
    response = client.post(
        "/admin/tenants/apikey/add/", {"name": "Zapier", "scopes": ["usage:read", "exports:read"]}, follow=True
    )
    assert response.status_code == 200
    [key] = re.findall(r"chk_[A-Za-z0-9_-]{40,}", response.content.decode())
    with tenancy.tenant_context(tenant_a.tenant):
        stored = ApiKey.objects.get(name="Zapier")
    assert (stored.key_hash, stored.scopes) == (api_key_hash(key), ["exports:read", "usage:read"])
    assert stored.tenant_id == tenant_a.tenant.id
    assert key not in client.get(f"/admin/tenants/apikey/{stored.pk}/change/").content.decode()
    assert client.get("/api/v2/usage/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200


def test_revoking_an_api_key(client, owner_a, tenant_a):
    client.post("/admin/tenants/apikey/", {"action": "revoke", "_selected_action": [str(tenant_a.api_key.pk)]})
    assert client.get("/api/v2/usage/", HTTP_AUTHORIZATION=f"Api-Key {tenant_a.key}").status_code == 401


def test_telegram_config_form_writes_encrypted_and_masks(client, owner_a, tenant_a):
    response = client.post(
        "/admin/tenants/telegramconfig/add/",
        {
            "support_group_id": "-100777",
            "bot_token": BOT_TOKEN,
            "webhook_secret": ADMIN_HOOK_SECRET,
            "header_secret": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert telegram_settings_for(tenant_a.tenant).bot_token == BOT_TOKEN
    listing = client.get("/admin/tenants/telegramconfig/").content.decode()
    assert "••••cdef" in listing and BOT_TOKEN not in listing
    with tenancy.tenant_context(tenant_a.tenant):
        config = TelegramConfig.objects.get()
    page = client.get(f"/admin/tenants/telegramconfig/{config.pk}/change/").content.decode()
    assert BOT_TOKEN not in page and ADMIN_HOOK_SECRET not in page and config.bot_token_encrypted not in page


def test_telegram_config_form_refuses_bad_values_in_the_form(client, owner_a, tenant_a, tenant_b):
    telegram_config_set(tenant=tenant_b.tenant, bot_token=BOT_TOKEN, support_group_id=1, webhook_secret=TAKEN_SECRET)
    bad_token = client.post(
        "/admin/tenants/telegramconfig/add/",
        {"support_group_id": "1", "bot_token": "nope", "webhook_secret": "fresh", "header_secret": ""},
    )
    assert bad_token.status_code == 200 and "does not look like" in bad_token.content.decode()
    taken = client.post(
        "/admin/tenants/telegramconfig/add/",
        {"support_group_id": "1", "bot_token": BOT_TOKEN, "webhook_secret": TAKEN_SECRET, "header_secret": ""},
    )
    assert taken.status_code == 200 and "Another tenant uses this webhook secret" in taken.content.decode()
    short = client.post(
        "/admin/tenants/telegramconfig/add/",
        {"support_group_id": "1", "bot_token": BOT_TOKEN, "webhook_secret": "s" * 31, "header_secret": ""},
    )
    assert short.status_code == 200 and "at least 32 characters" in short.content.decode()


def test_outbox_is_a_read_only_list_filterable_by_dead(client, owner_a, tenant_a):
    with tenancy.tenant_context(tenant_a.tenant):
        event = OutboxEvent.objects.filter(conversation=tenant_a.conversation).first()
        OutboxEvent.objects.filter(pk=event.pk).update(
            status="dead", attempts=12, last_error="Forbidden: bot was kicked"
        )
    content = client.get("/admin/conversations/outboxevent/?status__exact=dead").content.decode()
    assert "bot was kicked" in content
    change = client.get(f"/admin/conversations/outboxevent/{event.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()


def test_superuser_sees_every_tenant(client, django_user_model, tenant_a, tenant_b):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    content = client.get("/admin/conversations/conversation/").content.decode()
    assert "Visitor of tenant-a" in content and "Visitor of tenant-b" in content
    assert client.get("/admin/tenants/tenant/").status_code == 200
