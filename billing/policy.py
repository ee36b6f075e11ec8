"""The plan policy the core asks (chatorical/plans.py), registered in BillingConfig.ready.

Conversation starts and API calls read the tenant's usage each time (one statement).
Visitor messages, the hot path, read it at most every BILLING_USAGE_CACHE_SECONDS per
process and tenant: the 10 % that messages may run past their limit absorbs the delay.
"""

import math
import threading
import time

from django.conf import settings
from django.utils import timezone
from prometheus_client import Gauge

from billing import selectors, services
from billing.selectors import LimitState, LimitUsage, PlanUsage
from chatorical import tenancy
from chatorical.errors import ApiError
from chatorical.tenancy import run_for_tenant

PLAN_USAGE_RATIO = Gauge(
    "chatorical_plan_usage_ratio",
    "Share of the plan's limit used this billing period (1 = at the limit), as this process last read it.",
    ["tenant", "limit"],
)


def plan_limit_error(*, tenant, locale: str = "") -> ApiError:
    """402, with the tenant's own wording of `plan_limit_reached` for the widget to show."""
    from templates_i18n.selectors import template_text

    text = template_text(tenant_id=tenant.id, key="plan_limit_reached", locale=locale)
    return ApiError(402, "plan_limit_reached", text)


def usage_read(tenant) -> PlanUsage:
    """The tenant's usage now; records the warnings it newly calls for."""
    with tenancy.tenant_context(tenant):
        usage = selectors.plan_usage(tenant=tenant)
    for name in selectors.PERIOD_LIMITS:
        _ratio_set(tenant, usage.limits[name])
    _warnings_record(tenant, usage.period, [usage.limits[name] for name in selectors.PERIOD_LIMITS])
    return usage


def _ratio_set(tenant, limit: LimitUsage) -> None:
    if limit.ratio is not None:
        PLAN_USAGE_RATIO.labels(tenant=tenant.slug, limit=limit.name).set(limit.ratio)


def _warnings_record(tenant, period, limits) -> None:
    services.usage_warnings_record(tenant=tenant, period=period, limits=limits)


def _messages_cut_off(tenant) -> bool:
    plan = selectors.plan_for(tenant)
    if plan is None or plan.messages_per_month is None:
        return False
    return usage_read(tenant).messages_cut_off


class BillingPolicy:
    def __init__(self):
        self._lock = threading.Lock()
        # tenant id -> (monotonic time read, whether visitors' messages are cut off)
        self._messages_cut_off: dict[int, tuple[float, bool]] = {}

    def api_rate_multiplier(self, tenant) -> float:
        plan = selectors.plan_for(tenant)
        return plan.api_rate_multiplier if plan else 1.0

    def widget_origins_max(self, tenant) -> int | None:
        plan = selectors.plan_for(tenant)
        return plan.widget_origins if plan else None

    def admin_seats_max(self, tenant) -> int | None:
        plan = selectors.plan_for(tenant)
        return plan.admin_seats if plan else None

    def conversation_start_check(self, tenant, *, locale: str = "") -> None:
        plan = selectors.plan_for(tenant)
        if plan is None or plan.conversations_per_month is None:
            return
        usage = usage_read(tenant)
        if usage.limits["conversations"].state == LimitState.HARD:
            raise plan_limit_error(tenant=tenant, locale=locale)

    async def visitor_message_allowed(self, tenant) -> bool:
        with self._lock:
            read_at, cut_off = self._messages_cut_off.get(tenant.id, (-math.inf, False))
        if time.monotonic() - read_at >= settings.BILLING_USAGE_CACHE_SECONDS:
            cut_off = await run_for_tenant(tenant, _messages_cut_off, tenant)
            with self._lock:
                self._messages_cut_off[tenant.id] = (time.monotonic(), cut_off)
        return not cut_off

    def api_call_record(self, tenant) -> None:
        plan = selectors.plan_for(tenant)
        limit = plan.api_calls_per_month if plan else None
        with tenancy.tenant_context(tenant):
            period = selectors.billing_period(tenant=tenant)
        used, counted = services.api_call_record(tenant=tenant, period=period, limit=limit)
        if limit is not None:
            calls = LimitUsage(name="api_calls", limit=limit, used=used + counted, soft_percent=plan.soft_limit_percent)
            _ratio_set(tenant, calls)
            _warnings_record(tenant, period, [calls])
        if not counted:
            seconds = max(1, math.ceil((period.ends_at - timezone.now()).total_seconds()))
            raise ApiError(
                429,
                "plan_limit_reached",
                f"The plan's {limit} API calls of this period are used; more from {period.ends_at:%Y-%m-%d} UTC.",
                {"Retry-After": str(seconds)},
            )
