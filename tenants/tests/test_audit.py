"""Operator and owner actions on tenants are audited: API keys, Telegram settings,
retention (and its plan ceiling)."""

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from chatorical import tenancy
from chatorical.errors import ApiError
from tenants import retention
from tenants.models import ApiKey
from tenants.services import tenant_retention_set

BOT_TOKEN = "555555555:AAAuditBotToken_0123456789abcdefgh"


def recorded(tenant, *actions):
    with tenancy.tenant_context(tenant):
        return list(
            AuditEntry.objects.filter(action__in=actions)
            .order_by("id")
            .values_list("action", "actor_type", "actor_id", "changed_fields")
        )


def test_api_keys_made_and_revoked_on_the_command_line(tenant_a, capsys):
    call_command("apikey", "create", tenant_a.tenant.slug, "--scopes", "audit:read", "--name", "Auditor")
    raw_key = capsys.readouterr().out.strip().splitlines()[-1]
    with tenancy.tenant_context(tenant_a.tenant):
        key = ApiKey.objects.get(name="Auditor")
    call_command("apikey", "revoke", key.prefix)
    assert recorded(tenant_a.tenant, "api_key.create", "api_key.revoke")[1:] == [
        ("api_key.create", "cli", "apikey create", []),
        ("api_key.revoke", "cli", "apikey revoke", ["revoked_at"]),
    ]
    with tenancy.tenant_context(tenant_a.tenant):
        details = list(AuditEntry.objects.values_list("detail", flat=True))
    assert raw_key not in str(details)


def test_telegram_settings_record_field_names_never_secrets(tenant_a):
    for _ in range(2):
        call_command(
            "tenant", "telegram", tenant_a.tenant.slug, "--bot-token", BOT_TOKEN,
            "--support-group-id", "-100999", "--webhook-secret", "audit-path-secret-0123456789abcdefghij",
        )  # fmt: skip
    entries = recorded(tenant_a.tenant, "telegram_config.create", "telegram_config.update")
    assert [(action, actor) for action, actor, _, _ in entries] == [
        ("telegram_config.create", "cli"),
        ("telegram_config.update", "cli"),
    ]
    assert entries[0][3] == ["bot_token", "header_secret", "support_group_id", "webhook_secret"]
    with tenancy.tenant_context(tenant_a.tenant):
        stored = str(list(AuditEntry.objects.values()))
    assert BOT_TOKEN not in stored and "audit-path-secret-0123456789abcdefghij" not in stored


def test_retention_days_are_set_on_the_command_line_and_audited(tenant_a, capsys):
    call_command("tenant", "retention", tenant_a.tenant.slug, "--days", "30")
    assert "kept 30 days" in capsys.readouterr().out
    tenant_a.tenant.refresh_from_db()
    assert tenant_a.tenant.retention_days == 30
    assert recorded(tenant_a.tenant, "tenant.retention_set") == [
        ("tenant.retention_set", "cli", "tenant retention", ["retention_days"])
    ]
    with pytest.raises(CommandError, match="whole number of days"):
        call_command("tenant", "retention", tenant_a.tenant.slug, "--days", "-1")


@pytest.fixture
def plan_ceiling():
    """Billing's hook, as billing registers it: 30 days on the free plan, none otherwise."""

    def ceiling(tenant):
        return 30 if tenant.plan == "free" else None

    retention.retention_ceiling_register(ceiling)
    yield
    retention._ceilings.remove(ceiling)


def test_the_plans_ceiling_bounds_retention(tenant_a, plan_ceiling):
    tenant = tenant_a.tenant
    for days in (31, 0):
        with pytest.raises(ApiError) as refused:
            tenant_retention_set(tenant=tenant, days=days)
        assert refused.value.code == "retention_above_plan"
    assert tenant_retention_set(tenant=tenant, days=30).retention_days == 30
    tenant.plan = "enterprise"
    assert tenant_retention_set(tenant=tenant, days=0).retention_days == 0


def test_a_plan_without_a_ceiling_accepts_any_retention(tenant_a):
    tenant_a.tenant.plan = "enterprise"  # billing's plan with no retention ceiling
    assert retention.retention_ceiling(tenant_a.tenant) is None
    assert tenant_retention_set(tenant=tenant_a.tenant, days=3650).retention_days == 3650


def test_tenants_created_on_the_command_line_are_audited(db):
    from tenants.models import Tenant

    call_command("tenant", "create", "shop", "--name", "Shop")
    assert recorded(Tenant.objects.get(slug="shop"), "tenant.create") == [("tenant.create", "cli", "tenant create", [])]


def test_a_deep_health_probe_leaves_no_audit_entries(default_tenant):
    from conversations import services
    from conversations.tests.factories import conversation_for

    probe = conversation_for(default_tenant, is_synthetic=True)
    with tenancy.tenant_context(default_tenant):
        services.conversation_close(conversation=probe)
        services.conversation_erase(conversation=probe)
        assert not AuditEntry.objects.filter(object_id=str(probe.pk)).exists()


def test_the_tenant_admin_form_refuses_retention_above_the_plan(client, django_user_model, tenant_a, plan_ceiling):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    tenant = tenant_a.tenant
    form = {
        "slug": tenant.slug,
        "name": tenant.name,
        "status": tenant.status,
        "allowed_origins": "[]",
        "default_locale": "en",
        "plan": "free",
        "rate_limits": "{}",
        "retention_days": "45",
    }
    refused = client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", form)
    assert refused.status_code == 200
    assert "at most 30 days" in refused.content.decode()
    accepted = client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", {**form, "retention_days": "30"})
    assert accepted.status_code == 302
    tenant.refresh_from_db()
    assert tenant.retention_days == 30
    [change] = recorded(tenant, "admin.change")
    assert change[:2] == ("admin.change", "admin_user") and "retention_days" in change[3]
