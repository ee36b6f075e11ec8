"""Telegram metrics, labelled by tenant (chatorical/metrics.py says how they are served)."""

import time
from contextlib import contextmanager

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from chatorical.metrics import tenant_label
from telegram_bridge import client as tg

TELEGRAM_CALLS = Counter(
    "chatorical_telegram_calls_total",
    "Bot API calls, by method and outcome: ok, retry_after, or the kind of error.",
    ["tenant", "method", "outcome"],
)
TELEGRAM_CALL_SECONDS = Histogram(
    "chatorical_telegram_call_duration_seconds",
    "Time a Bot API call took, answer or error.",
    ["tenant", "method"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBHOOK_RESPONSES = Counter(
    "chatorical_telegram_webhook_responses_total",
    "Answers to Telegram's webhook calls, by status.",
    ["tenant", "status"],
)

# Most specific first: the classes derive from TelegramError.
_OUTCOMES = (
    (tg.RetryAfter, "retry_after"),
    (tg.ThreadNotFound, "thread_not_found"),
    (tg.TopicClosed, "topic_closed"),
    (tg.ChatMigrated, "chat_migrated"),
    (tg.MissingRights, "missing_rights"),
    (tg.BotRemoved, "bot_removed"),
    (tg.Unavailable, "unavailable"),
    (tg.TelegramError, "error"),
)
# A webhook request for no known tenant (a wrong secret) is counted under this tenant label.
UNKNOWN_TENANT = "unknown"


def call_outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    return next((outcome for error_class, outcome in _OUTCOMES if isinstance(error, error_class)), "error")


@contextmanager
def call_measured(*, tenant_slug: str, method: str):
    """Counts and times one Bot API call made inside the block."""
    label = tenant_label(tenant_slug)
    started = time.perf_counter()
    error = None
    try:
        yield
    except BaseException as exc:
        error = exc
        raise
    finally:
        TELEGRAM_CALL_SECONDS.labels(tenant=label, method=method).observe(time.perf_counter() - started)
        TELEGRAM_CALLS.labels(tenant=label, method=method, outcome=call_outcome(error)).inc()


def webhook_answered(*, tenant_slug: str, status: int) -> None:
    WEBHOOK_RESPONSES.labels(tenant=tenant_label(tenant_slug), status=str(status)).inc()


def collect_bot_problems() -> list:
    """1 for each active tenant whose bot has a problem a human must fix, as /ready reports
    it (`kind` names it); 0 without a kind for the others, so a quiet tenant still has data."""
    from telegram_bridge.bridge import bot_problems
    from tenants.models import Tenant

    problems = GaugeMetricFamily(
        "chatorical_telegram_bot_problem",
        "1 while the tenant's bot has a problem a human must fix (missing rights, removed bot).",
        labels=["tenant", "kind"],
    )
    slugs = dict(Tenant.objects.filter(status=Tenant.Status.ACTIVE).values_list("id", "slug"))
    found = bot_problems(list(slugs))
    series: dict[tuple[str, str], int] = {}
    for tenant_id, slug in slugs.items():
        problem = found.get(tenant_id)
        key = (tenant_label(slug), problem.split(":", 1)[0] if problem else "")
        series[key] = max(series.get(key, 0), 1 if problem else 0)
    for labels, value in series.items():
        problems.add_metric(list(labels), value)
    return [problems]
