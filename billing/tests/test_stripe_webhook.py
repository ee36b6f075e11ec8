"""POST /v2/billing/stripe/webhook: verified as Stripe signs, recorded once, applied in order."""

import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from billing import services, tasks
from billing.models import BillingEvent, StripeEvent, Subscription
from billing.tests.factories import body_of, stripe_event, stripe_signature, subscription_object
from chatorical import tenancy
from tenants.models import Tenant

URL = "/v2/billing/stripe/webhook"
SECRET = "whsec_test_0123456789abcdef0123456789abcdef"
DAY = 24 * 3600


@pytest.fixture(autouse=True)
def _stripe_settings(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.STRIPE_PRICE_PLANS = {"price_pro": "pro", "price_enterprise": "enterprise"}
    settings.STRIPE_GRACE_DAYS = 7


@pytest.fixture
def customer(tenant_a):
    services.subscription_link(tenant=tenant_a.tenant, stripe_customer_id="cus_a")
    return tenant_a.tenant


def post(client, event: dict | bytes, *, signature: str | None = None, timestamp: int | None = None):
    body = event if isinstance(event, bytes) else body_of(event)
    header = signature if signature is not None else stripe_signature(body, secret=SECRET, timestamp=timestamp)
    return client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def subscription_event(event_type="customer.subscription.updated", *, price="price_pro", status="active", **kw):
    now = int(time.time())
    obj = subscription_object(
        customer="cus_a", price=price, status=status, period_start=now - DAY, period_end=now + 29 * DAY
    )
    return stripe_event(event_type, obj, **kw)


def plan_of(tenant) -> str:
    return Tenant.objects.get(pk=tenant.pk).plan


def billing_events(tenant, kind=None):
    with tenancy.tenant_context(tenant):
        events = BillingEvent.objects.all()
        return list(events.filter(kind=kind) if kind else events)


def test_a_subscription_puts_the_tenant_on_its_prices_plan_and_is_recorded(client, customer):
    event = subscription_event("customer.subscription.created")
    response = post(client, event)
    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "applied"}
    assert plan_of(customer) == "pro"
    stored = StripeEvent.objects.get()
    assert (stored.stripe_id, stored.type, stored.created, stored.matched_tenant_id) == (
        event["id"], event["type"], event["created"], customer.id
    )  # fmt: skip
    assert stored.payload == event
    [change] = billing_events(customer, BillingEvent.Kind.PLAN_CHANGED)
    assert (change.source, change.from_plan, change.to_plan, change.actor) == (
        "stripe", "free", "pro", f"stripe {event['id']}"
    )  # fmt: skip
    with tenancy.tenant_context(customer):
        subscription = Subscription.objects.get()
    assert (subscription.status, subscription.price_id) == ("active", "price_pro")


def test_a_replay_is_answered_200_and_changes_nothing(client, customer):
    event = subscription_event(price="price_pro")
    assert post(client, event).status_code == 200
    services.tenant_plan_set(tenant=customer, code="free", source="cli", actor="operator")
    replay = post(client, event)
    assert replay.status_code == 200
    assert StripeEvent.objects.count() == 1
    assert plan_of(customer) == "free"  # the replay did not apply the event again


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "t=1,v1=00",
        stripe_signature(b"another body", secret=SECRET),
        None,  # signed with another secret, below
    ],
    ids=["missing", "garbage", "other-body", "other-secret"],
)
def test_a_bad_signature_is_400_and_nothing_is_stored(client, customer, signature):
    event = subscription_event()
    if signature is None:
        signature = stripe_signature(body_of(event), secret="whsec_someone_else")
    response = post(client, event, signature=signature)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert StripeEvent.objects.count() == 0
    assert plan_of(customer) == "free"


def test_a_stale_signature_is_refused(client, customer):
    response = post(client, subscription_event(), timestamp=int(time.time()) - 301)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_signature")
    assert StripeEvent.objects.count() == 0


@pytest.mark.parametrize(
    "body, code",
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_event"),
        (b'{"id": "evt_1", "type": "invoice.paid", "created": "yesterday", "data": {"object": {}}}', "invalid_event"),
        (b'{"id": "evt_1", "type": "invoice.paid", "created": 1}', "invalid_event"),
    ],
    ids=["not-json", "not-an-object", "created-not-int", "no-data"],
)
def test_a_malformed_body_even_well_signed_is_400_and_nothing_is_stored(client, customer, body, code):
    response = post(client, body)
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    assert StripeEvent.objects.count() == 0


def test_an_unknown_event_type_is_stored_and_ignored(client, customer):
    response = post(client, stripe_event("charge.refunded", {"id": "ch_1", "customer": "cus_a"}))
    assert (response.status_code, response.json()["outcome"]) == (200, "ignored")
    assert StripeEvent.objects.get().outcome == "ignored"
    assert plan_of(customer) == "free"


def test_an_unknown_customer_is_stored_and_reported_not_retried(client, customer, caplog):
    event = subscription_event()
    event["data"]["object"]["customer"] = "cus_nobody"
    response = post(client, event)
    assert (response.status_code, response.json()["outcome"]) == (200, "unknown_customer")
    assert StripeEvent.objects.get().matched_tenant is None
    assert "unknown customer" in caplog.text


def test_get_and_an_unconfigured_secret_answer_in_the_error_shape(client, settings):
    assert client.get(URL).json()["error"]["code"] == "method_not_allowed"
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = post(client, subscription_event())
    assert (response.status_code, response.json()["error"]["code"]) == (503, "stripe_not_configured")


def test_an_older_event_arriving_late_never_rolls_the_tenant_back(client, customer):
    now = int(time.time())
    newer = subscription_event(price="price_enterprise", created=now)
    older = subscription_event(price="price_pro", created=now - 60)
    assert post(client, newer).json()["outcome"] == "applied"
    assert post(client, older).json()["outcome"] == "stale"
    assert plan_of(customer) == "enterprise"
    assert StripeEvent.objects.count() == 2


def test_a_cancelled_subscription_is_not_revived_by_a_late_update(client, customer):
    now = int(time.time())
    assert post(client, subscription_event(created=now - 10)).json()["outcome"] == "applied"
    deleted = subscription_event("customer.subscription.deleted", status="canceled", created=now)
    assert post(client, deleted).json()["outcome"] == "applied"
    late = subscription_event(status="active", created=now)
    assert post(client, late).json()["outcome"] == "stale"
    with tenancy.tenant_context(customer):
        assert Subscription.objects.get().status == "canceled"


def test_cancelling_moves_the_tenant_to_free_at_the_period_end(client, customer):
    assert post(client, subscription_event(created=int(time.time()) - 10)).status_code == 200
    assert plan_of(customer) == "pro"
    post(client, subscription_event("customer.subscription.deleted", status="canceled"))
    assert plan_of(customer) == "pro"  # paid until the period ends
    assert billing_events(customer, BillingEvent.Kind.DOWNGRADE_SCHEDULED)
    with tenancy.tenant_context(customer):
        Subscription.objects.update(downgrade_at=timezone.now() - timedelta(seconds=1))
    assert tasks.subscription_downgrades_apply() == 1
    assert plan_of(customer) == "free"
    [last] = billing_events(customer, BillingEvent.Kind.PLAN_CHANGED)[:1]
    assert (last.from_plan, last.to_plan, last.source) == ("pro", "free", "stripe")


def test_past_due_starts_a_grace_period_then_free_after_it(client, customer):
    now = int(time.time())
    post(client, subscription_event(created=now - 20))
    post(client, subscription_event(status="past_due", created=now - 10))
    with tenancy.tenant_context(customer):
        subscription = Subscription.objects.get()
    assert subscription.grace_until - timezone.now() > timedelta(days=6, hours=23)
    assert plan_of(customer) == "pro"  # kept during the grace period
    assert billing_events(customer, BillingEvent.Kind.GRACE_STARTED)
    assert tasks.subscription_downgrades_apply() == 0
    with tenancy.tenant_context(customer):
        Subscription.objects.update(
            grace_until=timezone.now() - timedelta(seconds=1), current_period_end=timezone.now() - timedelta(seconds=1)
        )
    assert tasks.subscription_downgrades_apply() == 1
    assert plan_of(customer) == "free"


def test_payment_back_before_grace_ends_keeps_the_plan(client, customer):
    now = int(time.time())
    post(client, subscription_event(created=now - 20))
    post(client, subscription_event(status="past_due", created=now - 10))
    post(client, subscription_event(status="active", created=now))
    with tenancy.tenant_context(customer):
        assert Subscription.objects.get().grace_until is None
    assert tasks.subscription_downgrades_apply() == 0
    assert plan_of(customer) == "pro"


def test_invoice_events_are_recorded_in_the_billing_history(client, customer):
    post(client, subscription_event(created=int(time.time()) - 10))
    failed = post(client, stripe_event("invoice.payment_failed", {"id": "in_1", "customer": "cus_a"}))
    assert failed.json()["outcome"] == "applied"
    assert billing_events(customer, BillingEvent.Kind.PAYMENT_FAILED)
    with tenancy.tenant_context(customer):
        assert Subscription.objects.get().grace_until is not None
    post(client, stripe_event("invoice.paid", {"id": "in_1", "customer": "cus_a"}))
    assert billing_events(customer, BillingEvent.Kind.INVOICE_PAID)


@pytest.mark.django_db(transaction=True)
def test_over_real_http_the_webhook_verifies_and_records(live_server, tenant_a):
    from billing.tests.factories import plan_create

    plan_create("pro", api_rate_multiplier=5.0)
    services.subscription_link(tenant=tenant_a.tenant, stripe_customer_id="cus_a")
    event = subscription_event("customer.subscription.created")
    body = body_of(event)
    url = f"{live_server.url}{URL}"
    good = httpx.post(url, content=body, headers={"Stripe-Signature": stripe_signature(body, secret=SECRET)})
    forged = httpx.post(url, content=body, headers={"Stripe-Signature": stripe_signature(body, secret="whsec_x")})
    assert (good.status_code, forged.status_code) == (200, 400)
    assert StripeEvent.objects.count() == 1
    assert plan_of(tenant_a.tenant) == "pro"


def test_an_event_changes_only_the_tenant_of_its_customer(client, customer, tenant_b):
    services.subscription_link(tenant=tenant_b.tenant, stripe_customer_id="cus_b")
    event = subscription_event(price="price_enterprise")
    event["data"]["object"]["customer"] = "cus_b"
    assert post(client, event).json()["outcome"] == "applied"
    assert (plan_of(customer), plan_of(tenant_b.tenant)) == ("free", "enterprise")
    assert StripeEvent.objects.get().matched_tenant_id == tenant_b.tenant.id
    assert billing_events(customer) == []
