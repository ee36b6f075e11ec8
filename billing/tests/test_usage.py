"""Usage: counted in the writing transaction, per period, read through GET /api/v2/usage/."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection, transaction

from billing import selectors, services
from billing.models import Subscription, UsageCounter
from billing.tests.factories import plan_create
from chatorical import tenancy
from conversations import services as conversation_services
from conversations.models import Message
from conversations.tests.factories import conversation_for, message_for

Metric = UsageCounter.Metric


def counts(tenant) -> dict[str, int]:
    with tenancy.tenant_context(tenant):
        return selectors.usage_counts(period=selectors.billing_period(tenant=tenant))


def test_conversations_and_messages_are_counted_by_direction(db, tenant_a):
    # The world: one conversation, a visitor's message and an agent's.
    assert counts(tenant_a.tenant) == {"conversations": 1, "messages_in": 1, "messages_out": 1, "api_calls": 0}
    message_for(tenant_a.conversation, text="again")
    message_for(tenant_a.conversation, text="answer", direction=Message.Direction.OUTBOUND, agent_name="Grace")
    conversation_for(tenant_a.tenant)
    assert counts(tenant_a.tenant) == {"conversations": 2, "messages_in": 2, "messages_out": 2, "api_calls": 0}


def test_each_tenant_counts_its_own(db, tenant_a, tenant_b):
    message_for(tenant_b.conversation, text="only b")
    assert counts(tenant_a.tenant)["messages_in"] == 1
    assert counts(tenant_b.tenant)["messages_in"] == 2


def test_the_deep_health_checks_synthetic_traffic_is_not_counted(db, tenant_a):
    before = counts(tenant_a.tenant)
    with tenancy.tenant_context(tenant_a.tenant):
        synthetic = conversation_services.conversation_start(
            tenant=tenant_a.tenant, visitor_name="Deep health check", is_synthetic=True
        )
        conversation_services.message_add(conversation=synthetic, direction=Message.Direction.INBOUND, text="probe")
    assert counts(tenant_a.tenant) == before


def test_a_rolled_back_write_is_not_counted(db, tenant_a):
    before = counts(tenant_a.tenant)
    with pytest.raises(RuntimeError), transaction.atomic():
        conversation_for(tenant_a.tenant)
        message_for(tenant_a.conversation, text="never")
        raise RuntimeError("the request failed")
    assert counts(tenant_a.tenant) == before


def test_a_batch_from_the_sockets_path_counts_every_message(db, tenant_a):
    second = conversation_for(tenant_a.tenant)
    batch = [
        conversation_services.NewMessage(conversation=conversation, direction=Message.Direction.INBOUND, text=f"m{i}")
        for i in range(10)
        for conversation in (tenant_a.conversation, second)
    ]
    with tenancy.tenant_context(tenant_a.tenant):
        conversation_services.messages_add(messages=batch, fan_out=False)
    assert counts(tenant_a.tenant)["messages_in"] == 1 + 20


def test_one_statement_counts_each_direction_and_skips_synthetic_conversations(db, tenant_a, tenant_b):
    """The counter runs once per statement: a statement of several tenants, both directions
    and a synthetic conversation counts each row where it belongs."""
    with tenancy.tenant_context(tenant_a.tenant):
        synthetic = conversation_services.conversation_start(
            tenant=tenant_a.tenant, visitor_name="Deep health check", is_synthetic=True
        )
    before_a, before_b = counts(tenant_a.tenant), counts(tenant_b.tenant)
    inbound, outbound = Message.Direction.INBOUND, Message.Direction.OUTBOUND
    rows = [
        (tenant_a.conversation, inbound, 1),
        (tenant_a.conversation, outbound, 2),
        (tenant_a.conversation, outbound, 3),
        (synthetic, inbound, 1),
        (tenant_b.conversation, inbound, 2),
    ]
    with tenancy.cross_tenant("a statement that writes two tenants' messages"):
        Message.objects.bulk_create(
            Message(tenant_id=conversation.tenant_id, conversation=conversation, direction=direction, seq=100 + seq)
            for conversation, direction, seq in rows
        )
    after_a, after_b = counts(tenant_a.tenant), counts(tenant_b.tenant)
    assert (after_a["messages_in"] - before_a["messages_in"], after_a["messages_out"] - before_a["messages_out"]) == (
        1,
        2,
    )
    assert (after_b["messages_in"] - before_b["messages_in"], after_b["messages_out"]) == (1, before_b["messages_out"])


def test_compaction_folds_session_rows_and_keeps_the_sums(db, tenant_a):
    yesterday = date.today() - timedelta(days=1)
    with tenancy.tenant_context(tenant_a.tenant):
        for shard, value in ((101, 3), (202, 4), (0, 5)):
            UsageCounter.objects.create(day=yesterday, metric=Metric.MESSAGES_IN, shard=shard, value=value)
    today_before = counts(tenant_a.tenant)
    assert services.usage_counters_compact() >= 1
    with tenancy.tenant_context(tenant_a.tenant):
        rows = list(UsageCounter.objects.filter(day=yesterday).values_list("shard", "value"))
        assert rows == [(0, 12)]
    assert counts(tenant_a.tenant) == today_before  # today's rows are left alone


def test_counter_rows_belong_to_the_writing_session(db, tenant_a):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with tenancy.tenant_context(tenant_a.tenant):
        assert set(UsageCounter.objects.values_list("shard", flat=True)) == {pid}


def test_the_period_is_the_calendar_month_unless_the_subscription_has_one(db, tenant_a):
    tenant = tenant_a.tenant
    at = datetime(2026, 2, 14, 12, tzinfo=UTC)
    with tenancy.tenant_context(tenant):
        assert selectors.billing_period(tenant=tenant, at=at) == selectors.Period(date(2026, 2, 1), date(2026, 3, 1))
        december = selectors.billing_period(tenant=tenant, at=datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
        assert december == selectors.Period(date(2026, 12, 1), date(2027, 1, 1))
        Subscription.objects.create(
            tenant=tenant,
            stripe_customer_id="cus_p",
            current_period_start=datetime(2026, 2, 10, 9, tzinfo=UTC),
            current_period_end=datetime(2026, 3, 10, 9, tzinfo=UTC),
        )
        assert selectors.billing_period(tenant=tenant, at=at) == selectors.Period(date(2026, 2, 10), date(2026, 3, 10))
        # Outside the subscription's period (not renewed): the calendar month again.
        later = selectors.billing_period(tenant=tenant, at=datetime(2026, 4, 2, tzinfo=UTC))
        assert later == selectors.Period(date(2026, 4, 1), date(2026, 5, 1))


def test_usage_outside_the_period_does_not_count(db, tenant_a):
    with tenancy.tenant_context(tenant_a.tenant):
        UsageCounter.objects.create(day=date(2020, 1, 31), metric=Metric.CONVERSATIONS, shard=0, value=99)
    assert counts(tenant_a.tenant)["conversations"] == 1


# --- GET /api/v2/usage/ ----------------------------------------------------------------------


def key(world):
    return {"HTTP_AUTHORIZATION": f"Api-Key {world.key}"}


def test_usage_api_gives_plan_period_limits_used_remaining_and_state(client, tenant_a):
    plan_create("tiny", conversations_per_month=10, messages_per_month=2, api_calls_per_month=1000)
    services.tenant_plan_set(tenant=tenant_a.tenant, code="tiny", source="cli")
    body = client.get("/api/v2/usage/", **key(tenant_a)).json()
    today = datetime.now(UTC).date()
    assert body["plan"] == "tiny"
    assert body["period"] == {"start": today.replace(day=1).isoformat(), "end": selectors.calendar_month(
        datetime.now(UTC)).end.isoformat()}  # fmt: skip
    limits = body["limits"]
    assert limits["conversations"] == {"limit": 10, "used": 1, "remaining": 9, "state": "ok"}
    assert limits["messages"] == {"limit": 2, "used": 2, "remaining": 0, "state": "hard"}
    # This call is counted before it answers.
    assert limits["api_calls"] == {"limit": 1000, "used": 1, "remaining": 999, "state": "ok"}
    assert limits["widget_origins"]["used"] == 1
    assert body["soft_limit_percent"] == 80


def test_usage_api_shows_only_the_keys_tenant(client, tenant_a, tenant_b):
    for _ in range(3):
        conversation_for(tenant_b.tenant)
    body = client.get("/api/v2/usage/", **key(tenant_a)).json()
    assert body["limits"]["conversations"]["used"] == 1
    assert "tenant-b" not in str(body)


def test_usage_api_needs_the_usage_read_scope(client, tenant_a):
    from tenants.services import api_key_create

    issued = api_key_create(tenant=tenant_a.tenant, name="no usage", scopes=["conversations:read"])
    response = client.get("/api/v2/usage/", HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
    assert client.get("/api/v2/usage/").status_code == 401


def test_a_limit_lowered_below_current_usage_takes_effect_without_a_crash(client, tenant_a):
    plan = plan_create("tiny", conversations_per_month=100)
    services.tenant_plan_set(tenant=tenant_a.tenant, code="tiny", source="cli")
    plan.conversations_per_month = 0
    plan.messages_per_month = 1
    plan.save()
    limits = client.get("/api/v2/usage/", **key(tenant_a)).json()["limits"]
    assert limits["conversations"] == {"limit": 0, "used": 1, "remaining": 0, "state": "hard"}
    assert limits["messages"]["state"] == "hard"
    response = client.post(
        "/v2/tenants/tenant-a/conversations",
        {},
        content_type="application/json",
        HTTP_ORIGIN="https://tenant-a.example",
    )
    assert (response.status_code, response.json()["error"]["code"]) == (402, "plan_limit_reached")


def test_the_widget_bootstrap_says_nothing_about_billing(client, tenant_a):
    plan_create("tiny", conversations_per_month=0)
    services.tenant_plan_set(tenant=tenant_a.tenant, code="tiny", source="cli")
    response = client.get("/v2/tenants/tenant-a/bootstrap", HTTP_ORIGIN="https://tenant-a.example")
    assert response.status_code == 200
    text = response.content.decode().lower()
    assert not any(word in text for word in ("plan", "billing", "usage", "limit"))
