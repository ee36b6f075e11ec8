"""Every write of billing: plan changes, usage, warnings, and what Stripe tells us."""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing import selectors
from billing.delivery import billing_warnings_deliver_soon
from billing.models import BillingEvent, Plan, StripeEvent, Subscription, UsageCounter
from billing.selectors import FREE_PLAN, LimitState, LimitUsage, Period
from chatorical import tenancy
from chatorical.audit_trail import audit_record
from chatorical.errors import Invalid
from conversations.models import OutboxEvent
from tenants.models import Tenant

logger = logging.getLogger(__name__)

Source = BillingEvent.Source

# The outbox event of a warning to the tenant's support group (billing/handlers.py).
PLAN_USAGE_WARNING = "PlanUsageWarning"


@transaction.atomic
def tenant_plan_set(*, tenant: Tenant, code: str, source: str, actor: str = "", reason: str = "") -> Tenant:
    """Puts the tenant on plan `code` and records who or what did it, and why. A plan that
    does not exist is refused and nothing changes; setting the current plan records nothing."""
    if not Plan.objects.filter(code=code).exists():
        known = ", ".join(Plan.objects.values_list("code", flat=True))
        raise Invalid(code="unknown_plan", message=f"No plan `{code}`; the plans are {known}.")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if tenant.plan == code:
        return tenant
    previous = tenant.plan
    tenant.plan = code
    tenant.save(update_fields=["plan", "updated_at"])
    with tenancy.tenant_context(tenant):
        BillingEvent.objects.create(
            tenant=tenant,
            kind=BillingEvent.Kind.PLAN_CHANGED,
            source=source,
            actor=actor[:255],
            from_plan=previous,
            to_plan=code,
            detail=reason,
        )
    audit_record(
        tenant_id=tenant.pk,
        action="tenant.plan_set",
        object_type="tenants.tenant",
        object_id=tenant.pk,
        changed_fields=["plan"],
        detail={"from": previous, "to": code, "source": source},
    )
    logger.info("tenant %s moved from plan %s to %s (%s %s)", tenant.slug, previous, code, source, actor)
    return tenant


# One statement: the API calls of the period so far, and this one counted in the session's
# own counter row only if the plan has room (a NULL limit is unlimited).
_API_CALL_SQL = f"""
WITH used AS (
    SELECT coalesce(sum(value), 0)::bigint AS total FROM {UsageCounter._meta.db_table}
    WHERE tenant_id = %(tenant_id)s AND metric = %(metric)s AND day >= %(start)s AND day < %(end)s
), counted AS (
    INSERT INTO {UsageCounter._meta.db_table} (tenant_id, day, metric, shard, value)
    SELECT %(tenant_id)s, (now() AT TIME ZONE 'UTC')::date, %(metric)s, pg_backend_pid(), 1 FROM used
    WHERE %(limit)s::bigint IS NULL OR total < %(limit)s::bigint
    ON CONFLICT (tenant_id, day, metric, shard)
    DO UPDATE SET value = {UsageCounter._meta.db_table}.value + 1
    RETURNING 1
)
SELECT total, EXISTS (SELECT 1 FROM counted) FROM used
"""


def api_call_record(*, tenant: Tenant, period: Period, limit: int | None) -> tuple[int, bool]:
    """Counts one API call unless the period's `limit` is reached: (calls before this one,
    whether it was counted). Concurrent calls at the limit may each pass, one apiece."""
    if connection.vendor != "postgresql":
        return 0, True  # the embedded SQLite of a first local run counts no usage
    with connection.cursor() as cursor:
        cursor.execute(
            _API_CALL_SQL,
            {
                "tenant_id": tenant.id,
                "metric": UsageCounter.Metric.API_CALLS,
                "start": period.start,
                "end": period.end,
                "limit": limit,
            },
        )
        total, counted = cursor.fetchone()
    return total, counted


# Warnings this process knows are recorded: (tenant id, period start, kind, limit).
_warnings_known: set[tuple[int, object, str, str]] = set()


def usage_warnings_record(*, tenant: Tenant, period: Period, limits: list[LimitUsage]) -> list[BillingEvent]:
    """Records a soft or hard warning for each of `limits` that reached it, once per
    period and limit, and sends each new one to the tenant's support group."""
    due = []
    for limit in limits:
        kinds = {
            LimitState.SOFT: [BillingEvent.Kind.SOFT_LIMIT],
            # A limit that jumped past the soft share still gets its soft warning.
            LimitState.HARD: [BillingEvent.Kind.SOFT_LIMIT, BillingEvent.Kind.HARD_LIMIT],
        }.get(limit.state, [])
        due += [(kind, limit) for kind in kinds if (tenant.id, period.start, kind, limit.name) not in _warnings_known]
    if not due:
        return []
    recorded = []
    with tenancy.tenant_context(tenant):
        warned = selectors.billing_events_warned(period=period)
        for kind, limit in due:
            if (kind, limit.name) not in warned:
                event = _warning_record(tenant=tenant, period=period, limit=limit, kind=kind)
                if event is not None:
                    recorded.append(event)
            _warnings_known.add((tenant.id, period.start, kind, limit.name))
    return recorded


def _warning_record(*, tenant: Tenant, period: Period, limit: LimitUsage, kind: str) -> BillingEvent | None:
    percent = round(limit.used * 100 / limit.limit) if limit.limit else 100
    try:
        with transaction.atomic():
            event = BillingEvent.objects.create(
                tenant=tenant,
                kind=kind,
                limit=limit.name,
                period_start=period.start,
                detail=f"{limit.used} of {limit.limit} {limit.name} ({percent} %)",
            )
            OutboxEvent.objects.create(
                tenant=tenant,
                conversation=None,
                kind=PLAN_USAGE_WARNING,
                payload={"limit": limit.name, "used": limit.used, "limit_value": limit.limit, "percent": percent},
                available_at=timezone.now(),
            )
            transaction.on_commit(lambda: billing_warnings_deliver_soon(tenant.id))
    except IntegrityError:
        return None  # another process recorded it first
    logger.warning("tenant %s: %s %s at %s of %s", tenant.slug, kind, limit.name, limit.used, limit.limit)
    return event


def usage_counters_compact(*, before: datetime | None = None) -> int:
    """Folds the per-session counter rows of days before `before` (default: today, UTC)
    into one row per tenant, day and metric (shard 0). Returns the rows folded."""
    day = (before or timezone.now()).astimezone(UTC).date()
    table = UsageCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH folded AS (
                DELETE FROM {table} WHERE day < %(day)s AND shard <> 0
                RETURNING tenant_id, day, metric, value
            )
            INSERT INTO {table} (tenant_id, day, metric, shard, value)
            SELECT tenant_id, day, metric, 0, sum(value) FROM folded GROUP BY tenant_id, day, metric
            ON CONFLICT (tenant_id, day, metric, shard) DO UPDATE SET value = {table}.value + EXCLUDED.value
            """,
            {"day": day},
        )
        return cursor.rowcount


# --- Stripe ------------------------------------------------------------------------------

SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
INVOICE_EVENTS = ("invoice.paid", "invoice.payment_failed")


def stripe_event_receive(*, event: dict) -> StripeEvent:
    """Records a verified Stripe event once and applies it. A replay (same id) returns the
    stored record and changes nothing."""
    with transaction.atomic():
        stored, created = StripeEvent.objects.get_or_create(
            stripe_id=event["id"],
            defaults={
                "type": event["type"],
                "created": event["created"],
                "payload": event,
                "outcome": StripeEvent.Outcome.IGNORED,
            },
        )
        if not created:
            return stored
        stored.outcome, stored.matched_tenant = _stripe_event_apply(event)
        stored.save(update_fields=["outcome", "matched_tenant"])
    if stored.outcome == StripeEvent.Outcome.UNKNOWN_CUSTOMER:
        logger.warning("stripe event %s (%s) names an unknown customer", stored.stripe_id, stored.type)
    return stored


def _stripe_event_apply(event: dict) -> tuple[str, Tenant | None]:
    kind = event["type"]
    if kind not in SUBSCRIPTION_EVENTS + INVOICE_EVENTS:
        return StripeEvent.Outcome.IGNORED, None
    obj = event["data"]["object"]
    customer_id = obj.get("customer")
    with tenancy.cross_tenant("a Stripe event names its tenant by the customer id"):
        subscription = (
            Subscription.objects.select_for_update().select_related("tenant").filter(stripe_customer_id=customer_id)
        ).first()
    if subscription is None:
        return StripeEvent.Outcome.UNKNOWN_CUSTOMER, None
    tenant = subscription.tenant
    with tenancy.tenant_context(tenant):
        if kind in SUBSCRIPTION_EVENTS:
            applied = _subscription_apply(subscription=subscription, event=event, obj=obj)
        else:
            applied = _invoice_apply(subscription=subscription, event=event, obj=obj)
    return (StripeEvent.Outcome.APPLIED if applied else StripeEvent.Outcome.STALE), tenant


def _timestamp(value) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int) else None


def _subscription_period(obj: dict) -> tuple[datetime | None, datetime | None]:
    """Stripe moved the period from the subscription to its items (API 2025-03-31)."""
    start, end = obj.get("current_period_start"), obj.get("current_period_end")
    if start is None:
        items = (obj.get("items") or {}).get("data") or [{}]
        start, end = items[0].get("current_period_start"), items[0].get("current_period_end")
    return _timestamp(start), _timestamp(end)


def _subscription_price(obj: dict) -> str:
    items = (obj.get("items") or {}).get("data") or []
    return ((items[0].get("price") or {}).get("id") or "") if items else ""


def _is_newer(subscription: Subscription, event: dict, obj: dict) -> bool:
    """Whether the event is newer than the state applied. Events can arrive in any order;
    a subscription already cancelled never comes back from an older or equal event."""
    if subscription.state_as_of > event["created"]:
        return False
    if (
        subscription.status == Subscription.Status.CANCELED
        and subscription.stripe_subscription_id == obj.get("id")
        and obj.get("status") != Subscription.Status.CANCELED
    ):
        return False
    period_start, _ = _subscription_period(obj)
    return not (
        subscription.stripe_subscription_id == obj.get("id")
        and subscription.current_period_start
        and period_start
        and period_start < subscription.current_period_start
    )


def _subscription_apply(*, subscription: Subscription, event: dict, obj: dict) -> bool:
    if not _is_newer(subscription, event, obj):
        return False
    tenant = subscription.tenant
    status = obj.get("status", "")
    if event["type"] == "customer.subscription.deleted":
        status = Subscription.Status.CANCELED
    period_start, period_end = _subscription_period(obj)
    subscription.stripe_subscription_id = obj.get("id", "")
    subscription.status = status
    subscription.price_id = _subscription_price(obj) or subscription.price_id
    subscription.current_period_start = period_start or subscription.current_period_start
    subscription.current_period_end = period_end or subscription.current_period_end
    subscription.state_as_of = event["created"]
    actor = f"stripe {event['id']}"
    if status in (Subscription.Status.ACTIVE, Subscription.Status.TRIALING):
        subscription.grace_until = None
        subscription.downgrade_at = None
        plan = selectors.plan_for_stripe_price(price_id=subscription.price_id)
        if plan is None:
            logger.warning("stripe price %r of tenant %s maps to no plan", subscription.price_id, tenant.slug)
        else:
            tenant_plan_set(tenant=tenant, code=plan.code, source=Source.STRIPE, actor=actor, reason=event["type"])
    elif status == Subscription.Status.PAST_DUE:
        if subscription.grace_until is None:
            subscription.grace_until = timezone.now() + timedelta(days=settings.STRIPE_GRACE_DAYS)
            _event(
                tenant,
                BillingEvent.Kind.GRACE_STARTED,
                actor,
                f"past due; plan kept until {subscription.grace_until:%Y-%m-%d}",
            )
    elif status in (Subscription.Status.CANCELED, Subscription.Status.UNPAID, Subscription.Status.INCOMPLETE_EXPIRED):
        subscription.downgrade_at = subscription.current_period_end or timezone.now()
        _event(
            tenant,
            BillingEvent.Kind.DOWNGRADE_SCHEDULED,
            actor,
            f"{status}; free plan from {subscription.downgrade_at:%Y-%m-%d %H:%M} UTC",
        )
    subscription.save()
    subscription_downgrade_if_due(subscription=subscription)
    return True


def _invoice_apply(*, subscription: Subscription, event: dict, obj: dict) -> bool:
    actor = f"stripe {event['id']}"
    if event["type"] == "invoice.paid":
        _event(subscription.tenant, BillingEvent.Kind.INVOICE_PAID, actor, f"invoice {obj.get('id', '')} paid")
        return True
    if subscription.grace_until is None and subscription.state_as_of <= event["created"]:
        subscription.grace_until = timezone.now() + timedelta(days=settings.STRIPE_GRACE_DAYS)
        subscription.save(update_fields=["grace_until", "updated_at"])
        _event(
            subscription.tenant,
            BillingEvent.Kind.GRACE_STARTED,
            actor,
            f"plan kept until {subscription.grace_until:%Y-%m-%d}",
        )
    _event(subscription.tenant, BillingEvent.Kind.PAYMENT_FAILED, actor, f"invoice {obj.get('id', '')} unpaid")
    return True


def _event(tenant: Tenant, kind: str, actor: str, detail: str) -> None:
    BillingEvent.objects.create(tenant=tenant, kind=kind, source=Source.STRIPE, actor=actor, detail=detail)


def subscription_downgrades_apply() -> int:
    """Moves to free the tenants whose cancelled period ended or whose grace ran out."""
    now = timezone.now()
    moved = 0
    for subscription in selectors.subscriptions_due_for_downgrade(now=now):
        with tenancy.tenant_context(subscription.tenant):
            moved += subscription_downgrade_if_due(subscription=subscription, now=now)
    return moved


def subscription_downgrade_if_due(*, subscription: Subscription, now: datetime | None = None) -> bool:
    """Moves the tenant to the free plan once its cancelled period ended or its grace
    period ran out. Returns whether it did."""
    now = now or timezone.now()
    if subscription.downgrade_at is None and subscription.grace_until is not None and subscription.grace_until <= now:
        # Grace ran out: free from the end of the period it was in.
        subscription.downgrade_at = max(subscription.current_period_end or now, subscription.grace_until)
        subscription.save(update_fields=["downgrade_at", "updated_at"])
    if subscription.downgrade_at is None or subscription.downgrade_at > now:
        return False
    tenant_plan_set(
        tenant=subscription.tenant,
        code=FREE_PLAN,
        source=Source.STRIPE,
        actor=f"subscription {subscription.stripe_subscription_id}",
        reason=f"subscription {subscription.status or 'ended'}",
    )
    return True


def subscription_link(*, tenant: Tenant, stripe_customer_id: str) -> Subscription:
    """Names the tenant's Stripe customer, so its events find the tenant."""
    with tenancy.tenant_context(tenant):
        subscription, _ = Subscription.objects.update_or_create(
            tenant=tenant, defaults={"stripe_customer_id": stripe_customer_id}
        )
    return subscription
