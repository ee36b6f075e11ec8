"""The bots that need a human (a right to grant, a kicked bot), as /ready's detail and
the `chatorical_telegram_bot_problem` gauge report them; registered with the core in
apps.py."""

from prometheus_client.core import GaugeMetricFamily

from chatorical.metrics import tenant_label
from telegram_bridge.bridge import bot_problems
from tenants.models import Tenant


def _active_tenant_problems() -> tuple[dict[int, str], dict[int, str]]:
    """Every active tenant's slug by id, and the problem of each whose bot has one."""
    slugs = dict(Tenant.objects.filter(status=Tenant.Status.ACTIVE).values_list("id", "slug"))
    return slugs, bot_problems(list(slugs))


def ready_detail() -> dict[str, str]:
    """The problem of each active tenant's bot that has one, by tenant slug."""
    slugs, found = _active_tenant_problems()
    return {slugs[tenant_id]: problem for tenant_id, problem in found.items()}


def collect_bot_problems() -> list:
    """1 for each active tenant whose bot has a problem a human must fix, as /ready reports
    it (`kind` names it); 0 without a kind for the others, so a quiet tenant still has data."""
    problems = GaugeMetricFamily(
        "chatorical_telegram_bot_problem",
        "1 while the tenant's bot has a problem a human must fix (missing rights, removed bot).",
        labels=["tenant", "kind"],
    )
    slugs, found = _active_tenant_problems()
    series: dict[tuple[str, str], int] = {}
    for tenant_id, slug in slugs.items():
        problem = found.get(tenant_id)
        key = (tenant_label(slug), problem.split(":", 1)[0] if problem else "")
        series[key] = max(series.get(key, 0), 1 if problem else 0)
    for labels, value in series.items():
        problems.add_metric(list(labels), value)
    return [problems]
