"""The Django admin: erasure and export actions for owners, the read-only audit log,
and every admin change audited."""

import json

from audit.models import AuditEntry
from chatorical import tenancy
from chatorical.audit_trail import audit_record
from conversations.models import Conversation
from tenants.models import Membership
from tenants.tests.factories import staff_of


def act(client, action, conversation):
    return client.post(
        "/admin/conversations/conversation/", {"action": action, "_selected_action": [str(conversation.pk)]}
    )


def entries(tenant, **filters):
    with tenancy.tenant_context(tenant):
        return list(AuditEntry.objects.filter(**filters).order_by("id"))


def test_an_owner_erases_and_exports_from_the_admin(client, django_user_model, tenant_a):
    owner = staff_of(django_user_model, tenant_a.tenant, Membership.Role.OWNER)
    client.force_login(owner)
    response = act(client, "export", tenant_a.conversation)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    [document] = json.loads(response.content)["conversations"]
    assert document["id"] == str(tenant_a.conversation.id)
    assert [m["text"] for m in document["messages"]] == ["hello from tenant-a", "answer of tenant-a"]

    act(client, "erase", tenant_a.conversation)
    with tenancy.tenant_context(tenant_a.tenant):
        assert not Conversation.objects.filter(pk=tenant_a.conversation.pk).exists()
    [export, erase] = entries(tenant_a.tenant, action__in=["conversation.export", "conversation.erase"])
    assert (export.action, erase.action) == ("conversation.export", "conversation.erase")
    assert (erase.actor_type, erase.actor_id, erase.actor_name) == ("admin_user", str(owner.pk), owner.username)
    assert erase.request_id and erase.client_ip_hash


def test_agents_and_viewers_have_neither_action(client, django_user_model, tenant_a):
    for role in (Membership.Role.AGENT, Membership.Role.VIEWER):
        client.force_login(staff_of(django_user_model, tenant_a.tenant, role))
        page = client.get("/admin/conversations/conversation/").content.decode()
        assert 'value="erase"' not in page and 'value="export"' not in page
        act(client, "erase", tenant_a.conversation)
    with tenancy.tenant_context(tenant_a.tenant):
        assert Conversation.objects.filter(pk=tenant_a.conversation.pk).exists()


def test_an_owner_cannot_erase_or_export_another_tenants_conversation(client, django_user_model, tenant_a, tenant_b):
    client.force_login(staff_of(django_user_model, tenant_a.tenant, Membership.Role.OWNER))
    response = act(client, "export", tenant_b.conversation)
    assert json.loads(response.content) == {"conversations": []}
    act(client, "erase", tenant_b.conversation)
    with tenancy.tenant_context(tenant_b.tenant):
        assert Conversation.objects.filter(pk=tenant_b.conversation.pk).exists()
    assert entries(tenant_b.tenant, action__in=["conversation.export", "conversation.erase"]) == []


def test_the_audit_log_is_read_only_and_the_tenants_own(client, django_user_model, tenant_a, tenant_b):
    audit_record(tenant_id=tenant_b.tenant.id, action="only.of_b", object_type="x")
    owner = staff_of(django_user_model, tenant_a.tenant, Membership.Role.OWNER)
    client.force_login(owner)
    listing = client.get("/admin/audit/auditentry/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "api_key.create" in page and "only.of_b" not in page
    [mine] = entries(tenant_a.tenant, action="api_key.create")
    [theirs] = entries(tenant_b.tenant, action="only.of_b")
    assert client.get(f"/admin/audit/auditentry/{theirs.pk}/change/").status_code in (302, 404)
    detail = client.get(f"/admin/audit/auditentry/{mine.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert client.post(f"/admin/audit/auditentry/{mine.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/audit/auditentry/add/").status_code == 403
    assert entries(tenant_a.tenant, pk=mine.pk) == [mine]


def test_the_audit_log_is_read_only_for_superusers_too(client, django_user_model, tenant_a):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    [mine] = entries(tenant_a.tenant, action="api_key.create")
    assert client.post(f"/admin/audit/auditentry/{mine.pk}/delete/", {"post": "yes"}).status_code == 403
    assert 'name="_save"' not in client.get(f"/admin/audit/auditentry/{mine.pk}/change/").content.decode()


def test_agents_and_viewers_do_not_see_the_audit_log(client, django_user_model, tenant_a):
    client.force_login(staff_of(django_user_model, tenant_a.tenant, Membership.Role.AGENT))
    assert client.get("/admin/audit/auditentry/").status_code == 403


def test_admin_changes_are_audited_with_field_names(client, django_user_model, tenant_a):
    owner = staff_of(django_user_model, tenant_a.tenant, Membership.Role.OWNER)
    client.force_login(owner)
    conversation = tenant_a.conversation
    response = client.post(
        f"/admin/conversations/conversation/{conversation.pk}/change/", {"visitor_name": "Renamed", "note": ""}
    )
    assert response.status_code == 302
    [change] = entries(tenant_a.tenant, action="admin.change")
    assert (change.object_type, change.object_id) == ("conversations.conversation", str(conversation.pk))
    assert change.changed_fields == ["visitor_name"]
    assert change.actor_id == str(owner.pk)
