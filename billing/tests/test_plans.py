"""Plans: the migration's rows, one plan per tenant with its history, set by the CLI, the
admin or Stripe; the API rate multipliers come from the same rows."""

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import BillingEvent, Plan
from billing.tests.factories import plan_create
from chatorical import ratelimit, tenancy
from chatorical.testing import ROOT, process_env
from tenants.models import Membership, Tenant
from tenants.tests.factories import staff_of


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def history(tenant) -> list[tuple]:
    with tenancy.tenant_context(tenant):
        return list(
            BillingEvent.objects.filter(kind=BillingEvent.Kind.PLAN_CHANGED)
            .order_by("id")
            .values_list("source", "from_plan", "to_plan", "detail")
        )


def test_the_migration_creates_free_pro_enterprise_and_the_default_tenants_unlimited_plan(db):
    plans = {plan.code: plan for plan in Plan.objects.all()}
    assert {"free", "pro", "enterprise", "legacy"} <= set(plans)
    assert plans["free"].conversations_per_month < plans["pro"].conversations_per_month
    assert plans["free"].soft_limit_percent == 80
    legacy = plans["legacy"]
    assert [legacy.conversations_per_month, legacy.messages_per_month, legacy.api_calls_per_month] == [None] * 3
    assert Tenant.objects.get(slug="default").plan == "legacy"


def test_cli_sets_the_plan_and_records_who_and_why(db, tenant_a):
    output = run("tenant", "plan", "tenant-a", "pro", "--reason", "signed the contract")
    assert "tenant-a: plan free -> pro" in output
    assert Tenant.objects.get(slug="tenant-a").plan == "pro"
    assert history(tenant_a.tenant) == [("cli", "free", "pro", "signed the contract")]
    with tenancy.tenant_context(tenant_a.tenant):
        assert BillingEvent.objects.get().actor.startswith("cli ")
    # The same plan again changes nothing and records nothing.
    assert "already on plan pro" in run("tenant", "plan", "tenant-a", "pro")
    assert len(history(tenant_a.tenant)) == 1


@pytest.mark.parametrize(
    "args, message",
    [(["tenant-a", "platinum"], "No plan `platinum`"), (["nobody", "pro"], "No tenant `nobody`")],
)
def test_cli_refuses_an_unknown_plan_or_tenant_and_changes_nothing(db, tenant_a, args, message):
    with pytest.raises(CommandError, match=message):
        run("tenant", "plan", *args)
    assert Tenant.objects.get(slug="tenant-a").plan == "free"
    assert history(tenant_a.tenant) == []


@pytest.mark.django_db(transaction=True)
def test_manage_py_tenant_plan_runs_as_the_operator_types_it(tenant_a):
    plan_create("pro")
    command = [sys.executable, "manage.py", "tenant", "plan", "tenant-a", "pro"]
    done = subprocess.run(command, cwd=ROOT, env=process_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Tenant.objects.get(slug="tenant-a").plan == "pro"
    refused = subprocess.run(
        [*command[:-1], "gold"], cwd=ROOT, env=process_env(), capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and "No plan `gold`" in refused.stderr


def test_api_rate_limits_follow_the_plans_multiplier(db, settings, tenant_a):
    settings.RATE_LIMIT_SCALE = 1.0
    tenant = tenant_a.tenant
    assert ratelimit.rate_for(name="api_key", tenant=tenant, kind="key").limit == 120
    run("tenant", "plan", "tenant-a", "pro")
    tenant.refresh_from_db()
    assert ratelimit.rate_for(name="api_key", tenant=tenant, kind="tenant").limit == 3000
    pro = Plan.objects.get(code="pro")
    pro.api_rate_multiplier = 2
    pro.save()  # one source of truth: the row, read again once saved
    assert ratelimit.rate_for(name="api_key", tenant=tenant, kind="key").limit == 240
    # Limits a plan does not scale stay as they are.
    assert ratelimit.rate_for(name="conversation_start", tenant=tenant, kind="ip").limit == 10


def test_a_plan_code_without_a_row_is_unlimited_not_an_error(db, tenant_a, client, caplog):
    Tenant.objects.filter(pk=tenant_a.tenant.pk).update(plan="retired")
    tenant_a.tenant.refresh_from_db()
    assert ratelimit.rate_for(name="api_key", tenant=tenant_a.tenant, kind="key").limit == 120
    response = client.get("/api/v2/usage/", HTTP_AUTHORIZATION=f"Api-Key {tenant_a.key}")
    assert response.status_code == 200
    assert response.json()["limits"]["conversations"]["state"] == "unlimited"
    assert "does not exist" in caplog.text


# --- the admin -------------------------------------------------------------------------------

PAGE = "/admin/billing/tenantbilling/"


@pytest.fixture
def superuser(client, django_user_model):
    user = django_user_model.objects.create_superuser("platform", password="pw")
    client.force_login(user)
    return user


def test_platform_staff_change_a_plan_in_the_admin_and_it_is_recorded(client, superuser, tenant_a):
    url = f"{PAGE}{tenant_a.tenant.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert "<progress" in page.content.decode()
    response = client.post(url, {"plan": "enterprise", "reason": "upgrade by phone"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Tenant.objects.get(pk=tenant_a.tenant.pk).plan == "enterprise"
    with tenancy.tenant_context(tenant_a.tenant):
        change = BillingEvent.objects.get()
    assert (change.source, change.actor, change.to_plan, change.detail) == (
        "admin", "platform", "enterprise", "upgrade by phone"
    )  # fmt: skip


def test_platform_staff_edit_plans(client, superuser):
    free = Plan.objects.get(code="free")
    page = client.get(f"/admin/billing/plan/{free.pk}/change/")
    assert page.status_code == 200


def test_members_see_their_plan_usage_and_history_read_only(client, django_user_model, tenant_a, tenant_b):
    run("tenant", "plan", "tenant-a", "pro")
    client.force_login(staff_of(django_user_model, tenant_a.tenant, Membership.Role.OWNER))
    listing = client.get(PAGE)
    assert listing.status_code == 200
    assert f"{PAGE}{tenant_a.tenant.pk}/change/" in listing.content.decode()
    assert "tenant-b" not in listing.content.decode()
    mine = client.get(f"{PAGE}{tenant_a.tenant.pk}/change/")
    content = mine.content.decode()
    assert mine.status_code == 200 and "<progress" in content and "plan_changed" in content
    assert 'name="plan"' not in content  # read-only
    assert client.post(f"{PAGE}{tenant_a.tenant.pk}/change/", {"plan": "enterprise"}).status_code == 403
    assert Tenant.objects.get(pk=tenant_a.tenant.pk).plan == "pro"
    theirs = client.get(f"{PAGE}{tenant_b.tenant.pk}/change/")
    assert theirs.status_code in (302, 404) and "tenant-b" not in theirs.content.decode()
    assert client.get("/admin/billing/plan/").status_code == 403
    assert client.get("/admin/billing/stripeevent/").status_code == 403


@pytest.mark.django_db
def test_the_plans_retention_ceiling_bounds_the_tenants_retention(tenant_a):
    run("tenant", "plan", tenant_a.tenant.slug, "free")
    with pytest.raises(CommandError, match="at most 30 days"):
        run("tenant", "retention", tenant_a.tenant.slug, "--days", "60")
    run("tenant", "retention", tenant_a.tenant.slug, "--days", "30")
    assert Tenant.objects.get(pk=tenant_a.tenant.pk).retention_days == 30


@pytest.mark.django_db
def test_a_plan_change_is_audited_with_the_field_name_and_the_cli_as_actor(tenant_a):
    from audit.models import AuditEntry

    run("tenant", "plan", tenant_a.tenant.slug, "pro", "--reason", "upgrade")
    with tenancy.tenant_context(tenant_a.tenant):
        entry = AuditEntry.objects.get(action="tenant.plan_set")
    assert (entry.actor_type, entry.changed_fields, entry.detail["to"]) == ("cli", ["plan"], "pro")


@pytest.mark.django_db
def test_a_tenant_gets_no_more_widget_origins_than_its_plan_allows():
    # free: one origin
    with pytest.raises(CommandError, match="allows 1 widget origins"):
        run(
            "tenant",
            "create",
            "two-sites",
            "--name",
            "Two",
            "--origin",
            "https://a.example",
            "--origin",
            "https://b.example",
        )
    assert not Tenant.objects.filter(slug="two-sites").exists()
    run("tenant", "create", "two-sites", "--name", "Two", "--origin", "https://a.example", "--plan", "pro")


def origins_form(tenant, origins: list[str]) -> dict:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "status": tenant.status,
        "allowed_origins": json.dumps(origins),
        "default_locale": tenant.default_locale,
        "rate_limits": "{}",
        "retention_days": 30,
    }


@pytest.mark.django_db
def test_a_lowered_origin_limit_keeps_the_origins_but_takes_no_new_one(client, superuser, tenant_a):
    url = f"/admin/tenants/tenant/{tenant_a.tenant.pk}/change/"
    three = ["https://a.example", "https://b.example", "https://c.example"]
    Tenant.objects.filter(pk=tenant_a.tenant.pk).update(allowed_origins=three, plan="free", retention_days=30)
    tenant = Tenant.objects.get(pk=tenant_a.tenant.pk)
    refused = client.post(url, origins_form(tenant, [*three, "https://d.example"]))
    assert refused.status_code == 200 and "allows 1 widget origins" in refused.content.decode()
    assert client.post(url, origins_form(tenant, three[:2])).status_code == 302
    assert Tenant.objects.get(pk=tenant.pk).allowed_origins == three[:2]


@pytest.mark.django_db
def test_members_take_no_more_seats_than_the_plan_has(client, superuser, django_user_model, tenant_a):
    Tenant.objects.filter(pk=tenant_a.tenant.pk).update(plan="free")  # two seats
    tenant = Tenant.objects.get(pk=tenant_a.tenant.pk)
    staff_of(django_user_model, tenant, Membership.Role.OWNER)
    staff_of(django_user_model, tenant, Membership.Role.AGENT)
    third = django_user_model.objects.create_user("third", password="pw", is_staff=True)
    response = client.post(
        "/admin/tenants/membership/add/", {"user": third.pk, "tenant": tenant.pk, "role": Membership.Role.AGENT}
    )
    assert response.status_code == 200 and "allows 2 admin seats, all taken" in response.content.decode()
    with tenancy.tenant_context(tenant):
        assert Membership.objects.filter(tenant=tenant).count() == 2
