"""Conversation metrics, labelled by tenant (chatorical/metrics.py says how they are served)."""

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import Counter, Gauge
from prometheus_client.core import GaugeMetricFamily

from chatorical import tenancy
from chatorical.metrics import tenant_label
from conversations.models import OutboxEvent

CONVERSATIONS_STARTED = Counter("chatorical_conversations_started_total", "Conversations started.", ["tenant"])
MESSAGES = Counter(
    "chatorical_messages_total", "Messages stored: in (from visitors) and out (from agents).", ["tenant", "direction"]
)
OPEN_SOCKETS = Gauge("chatorical_open_sockets", "Widget sockets open now.", ["tenant"], multiprocess_mode="livesum")
SOCKET_CLOSES = Counter("chatorical_socket_closes_total", "Widget sockets closed, by close code.", ["tenant", "code"])
OUTBOX_EVENTS = Counter(
    "chatorical_outbox_events_total",
    "Outbox events handled, by kind and outcome (done, retry, dead).",
    ["tenant", "kind", "outcome"],
)

DIRECTION_LABELS = {"INBOUND": "in", "OUTBOUND": "out"}
# Close codes a client sends are its own choice: any other is counted as "other", so the
# label stays bounded.
_KNOWN_CLOSE_CODES = frozenset({*range(1000, 1016), 4429})


def close_code_label(code) -> str:
    return str(code) if code in _KNOWN_CLOSE_CODES else "other"


def messages_stored(*, tenant_slug: str, directions: list[str]) -> None:
    for direction in directions:
        MESSAGES.labels(tenant=tenant_label(tenant_slug), direction=DIRECTION_LABELS[direction]).inc()


def _active_tenant_labels() -> dict[int, str]:
    from tenants.models import Tenant

    return {
        tenant_id: tenant_label(slug)
        for tenant_id, slug in Tenant.objects.filter(status=Tenant.Status.ACTIVE).values_list("id", "slug")
    }


def collect_outbox() -> list:
    """The age of each tenant's oldest pending event and its count of dead events: two
    grouped queries on the outbox's partial pending index and its (tenant, status) index."""
    labels = _active_tenant_labels()
    lag = GaugeMetricFamily(
        "chatorical_outbox_lag_seconds", "Age of the tenant's oldest undelivered outbox event.", labels=["tenant"]
    )
    dead = GaugeMetricFamily("chatorical_outbox_dead_events", "Outbox events given up on.", labels=["tenant"])
    with tenancy.cross_tenant("metrics read every tenant's outbox"):
        oldest = dict(
            OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING)
            .values_list("tenant_id")
            .annotate(oldest=Min("created_at"))
            .order_by()
        )
        dead_counts = dict(
            OutboxEvent.objects.filter(status=OutboxEvent.Status.DEAD)
            .values_list("tenant_id")
            .annotate(count=Count("id"))
            .order_by()
        )
    now = timezone.now()
    lag_by_label: dict[str, float] = {}
    dead_by_label: dict[str, int] = {}
    for tenant_id, label in labels.items():
        age = (now - oldest[tenant_id]).total_seconds() if tenant_id in oldest else 0.0
        lag_by_label[label] = max(lag_by_label.get(label, 0.0), age)
        dead_by_label[label] = dead_by_label.get(label, 0) + dead_counts.get(tenant_id, 0)
    for label, seconds in lag_by_label.items():
        lag.add_metric([label], seconds)
    for label, count in dead_by_label.items():
        dead.add_metric([label], count)
    return [lag, dead]
