"""What the core asks of a tenant's plan, answered by the billing app.

The core (rate limiter, API views) and the apps below billing cannot import it, so billing
registers its answers here in its AppConfig.ready (billing/apps.py). Without a
registration every plan is unlimited and every multiplier 1.
"""

from typing import Protocol


class PlanPolicy(Protocol):
    def api_rate_multiplier(self, tenant) -> float:
        """How many times the default API-key rates the tenant's plan allows."""

    def conversation_start_check(self, tenant, *, locale: str = "") -> None:
        """Raises the 402 ApiError (its message in the visitor's locale) when the plan
        allows no new conversation."""

    async def visitor_message_allowed(self, tenant) -> bool:
        """Whether a visitor may still send a message in an open conversation."""

    def api_call_record(self, tenant) -> None:
        """Counts one API call, or raises the 429 ApiError when the plan has none left."""

    def widget_origins_max(self, tenant) -> int | None:
        """How many widget origins the tenant's plan allows; None for any number."""

    def admin_seats_max(self, tenant) -> int | None:
        """How many members (Django admin seats) the tenant's plan allows; None for any number."""


class _Unlimited:
    def api_rate_multiplier(self, tenant) -> float:
        return 1.0

    def conversation_start_check(self, tenant, *, locale: str = "") -> None:
        return None

    async def visitor_message_allowed(self, tenant) -> bool:
        return True

    def api_call_record(self, tenant) -> None:
        return None

    def widget_origins_max(self, tenant) -> int | None:
        return None

    def admin_seats_max(self, tenant) -> int | None:
        return None


_policy: PlanPolicy = _Unlimited()


def policy_register(policy: PlanPolicy) -> None:
    global _policy
    _policy = policy


def policy() -> PlanPolicy:
    return _policy
