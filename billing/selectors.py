"""Reads of plans, periods and usage. Usage reads act for the tenant in context."""

import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from billing.models import BillingEvent, Plan, Subscription, UsageCounter
from chatorical import tenancy
from tenants.models import Membership, Tenant

logger = logging.getLogger(__name__)

# Where a downgrade lands (the plans come from a migration).
FREE_PLAN = "free"

Metric = UsageCounter.Metric

# Plans change rarely and are read on hot paths (the API rate limit of every call).
PLAN_CACHE_SECONDS = 30
_plans_lock = threading.Lock()
_plans: dict[str, Plan] = {}
_plans_read_at = -math.inf


def plans_forget() -> None:
    """Drops this process's copy of the plans (a plan was saved here)."""
    global _plans_read_at
    _plans_read_at = -math.inf


def plan_get(*, code: str) -> Plan | None:
    global _plans, _plans_read_at
    with _plans_lock:
        if time.monotonic() - _plans_read_at > PLAN_CACHE_SECONDS:
            _plans = {plan.code: plan for plan in Plan.objects.all()}
            _plans_read_at = time.monotonic()
        return _plans.get(code)


# Plan codes found missing, logged once per process.
_missing_plans: set[str] = set()


def plan_for(tenant: Tenant) -> Plan | None:
    """The tenant's plan; None (unlimited) when its code names no plan, which is logged."""
    plan = plan_get(code=tenant.plan)
    if plan is None and tenant.plan not in _missing_plans:
        _missing_plans.add(tenant.plan)
        logger.warning("tenant %s is on plan %r, which does not exist: no limits apply", tenant.slug, tenant.plan)
    return plan


def plan_for_stripe_price(*, price_id: str) -> Plan | None:
    """STRIPE_PRICE_PLANS first, then the plan whose stripe_price_id it is."""
    code = settings.STRIPE_PRICE_PLANS.get(price_id)
    if code is not None:
        return Plan.objects.filter(code=code).first()
    return Plan.objects.filter(stripe_price_id=price_id).first() if price_id else None


@dataclass(frozen=True)
class Period:
    """Whole UTC days: `start` is the first counted, `end` the first not counted."""

    start: date
    end: date

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.end, dt_time.min, tzinfo=UTC)

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, dt_time.min, tzinfo=UTC)


def calendar_month(at: datetime) -> Period:
    start = at.astimezone(UTC).date().replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return Period(start=start, end=end)


def billing_period(*, tenant: Tenant, at: datetime | None = None) -> Period:
    """The calendar month (UTC), unless the tenant's subscription is in a period of its
    own: then that period's days, from its start day up to its end day."""
    at = at or timezone.now()
    subscription = subscription_get(tenant=tenant)
    if (
        subscription is not None
        and subscription.current_period_start is not None
        and subscription.current_period_end is not None
        and subscription.current_period_start <= at < subscription.current_period_end
    ):
        start = subscription.current_period_start.astimezone(UTC).date()
        end = subscription.current_period_end.astimezone(UTC).date()
        if end > start:
            return Period(start=start, end=end)
    return calendar_month(at)


def subscription_get(*, tenant: Tenant) -> Subscription | None:
    return Subscription.objects.filter(tenant=tenant).first()


def usage_counts(*, period: Period) -> dict[str, int]:
    """The tenant's counters over the period, by metric (0 for none)."""
    rows = (
        UsageCounter.objects.filter(day__gte=period.start, day__lt=period.end)
        .values("metric")
        .annotate(total=Sum("value"))
        .values_list("metric", "total")
    )
    counts = dict.fromkeys(Metric.values, 0)
    counts.update(rows)
    return counts


def usage_counter_sessions() -> int:
    """How many database sessions counted the tenant's usage today (shards not yet folded)."""
    today = timezone.now().astimezone(UTC).date()
    return UsageCounter.objects.filter(day=today).values("shard").distinct().count()


class LimitState:
    UNLIMITED = "unlimited"
    OK = "ok"
    SOFT = "soft"  # at or over the plan's soft share: staff are warned
    HARD = "hard"  # at or over the limit


@dataclass(frozen=True)
class LimitUsage:
    name: str
    limit: int | None
    used: int
    soft_percent: int

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)

    @property
    def ratio(self) -> float | None:
        if self.limit is None:
            return None
        return self.used / self.limit if self.limit else math.inf

    @property
    def state(self) -> str:
        if self.limit is None:
            return LimitState.UNLIMITED
        if self.used >= self.limit:
            return LimitState.HARD
        if self.used * 100 >= self.limit * self.soft_percent:
            return LimitState.SOFT
        return LimitState.OK


# Visitor messages in open conversations flow on past the limit up to this share of it,
# so that no chat is cut off mid-sentence at the limit.
MESSAGES_CUTOFF_PERCENT = 110

# Monthly limits are enforced by the policy (billing/policy.py); the others are reported.
PERIOD_LIMITS = ("conversations", "messages", "api_calls")


@dataclass(frozen=True)
class PlanUsage:
    plan_code: str
    plan: Plan | None
    period: Period
    limits: dict[str, LimitUsage]

    @property
    def messages_cut_off(self) -> bool:
        """Past MESSAGES_CUTOFF_PERCENT of the message limit: visitors' messages stop."""
        messages = self.limits["messages"]
        return messages.limit is not None and messages.used * 100 >= messages.limit * MESSAGES_CUTOFF_PERCENT


def plan_usage(*, tenant: Tenant, at: datetime | None = None) -> PlanUsage:
    """The tenant's plan, its period and, per limit, how much of it is used."""
    plan = plan_for(tenant)
    period = billing_period(tenant=tenant, at=at)
    counts = usage_counts(period=period)
    used = {
        "conversations": counts[Metric.CONVERSATIONS],
        "messages": counts[Metric.MESSAGES_IN] + counts[Metric.MESSAGES_OUT],
        "api_calls": counts[Metric.API_CALLS],
        "widget_origins": len(tenant.allowed_origins or ()),
        "admin_seats": Membership.objects.filter(tenant=tenant).count(),
    }
    limits = {
        name: LimitUsage(
            name=name,
            limit=getattr(plan, _PLAN_FIELDS[name]) if plan else None,
            used=count,
            soft_percent=plan.soft_limit_percent if plan else 100,
        )
        for name, count in used.items()
    }
    return PlanUsage(plan_code=tenant.plan, plan=plan, period=period, limits=limits)


_PLAN_FIELDS = {
    "conversations": "conversations_per_month",
    "messages": "messages_per_month",
    "api_calls": "api_calls_per_month",
    "widget_origins": "widget_origins",
    "admin_seats": "admin_seats",
}


def billing_events_warned(*, period: Period) -> set[tuple[str, str]]:
    """(kind, limit) of the warnings already recorded for the period."""
    return set(
        BillingEvent.objects.filter(
            kind__in=[BillingEvent.Kind.SOFT_LIMIT, BillingEvent.Kind.HARD_LIMIT], period_start=period.start
        ).values_list("kind", "limit")
    )


def billing_warnings_current(*, tenant: Tenant) -> list[BillingEvent]:
    """The warnings of the tenant's current period, newest first (the admin's banner)."""
    period = billing_period(tenant=tenant)
    return list(
        BillingEvent.objects.filter(
            kind__in=[BillingEvent.Kind.SOFT_LIMIT, BillingEvent.Kind.HARD_LIMIT], period_start=period.start
        )
    )


def subscriptions_due_for_downgrade(*, now: datetime) -> list[Subscription]:
    """Every tenant's paid subscription whose cancelled period ended or whose grace ran out."""
    with tenancy.cross_tenant("downgrades due are found across every tenant's subscription"):
        subscriptions = Subscription.objects.select_related("tenant").exclude(tenant__plan=FREE_PLAN)
        return list(
            subscriptions.filter(downgrade_at__lte=now)
            | subscriptions.filter(grace_until__lte=now, downgrade_at__isnull=True)
        )
