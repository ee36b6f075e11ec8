"""Telegram metrics, labelled by tenant (chatorical/metrics.py says how they are served)."""

import time
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

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
