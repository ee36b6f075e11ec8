"""How long a tenant's closed conversations may be kept: Tenant.retention_days, capped by
the ceiling of the tenant's plan.

Plans belong to billing, which sits above tenants: it registers its ceiling here from its
AppConfig.ready (`retention_ceiling_register`). With nothing registered, or a plan with no
ceiling, any number of days is accepted and 0 (keep for good) too.
"""

from collections.abc import Callable

from chatorical.errors import Invalid

MAX_RETENTION_DAYS = 36500

# tenant -> the most days its plan allows, or None for no ceiling.
_ceilings: list[Callable[[object], int | None]] = []


def retention_ceiling_register(ceiling: Callable[[object], int | None]) -> None:
    _ceilings.append(ceiling)


def retention_ceiling(tenant) -> int | None:
    ceilings = [days for days in (ceiling(tenant) for ceiling in _ceilings) if days is not None]
    return min(ceilings) if ceilings else None


def retention_days_check(*, tenant, days) -> None:
    """Raises Invalid (`invalid_retention_days`, `retention_above_plan`) for a value the tenant cannot have."""
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_RETENTION_DAYS:
        raise Invalid(
            code="invalid_retention_days",
            message=f"Retention is a whole number of days from 0 (keep) to {MAX_RETENTION_DAYS}.",
        )
    ceiling = retention_ceiling(tenant)
    if ceiling is not None and (days == 0 or days > ceiling):
        raise Invalid(
            code="retention_above_plan",
            message=f"The plan `{tenant.plan}` keeps closed conversations at most {ceiling} days; "
            "0 (keep) is not allowed.",
        )
