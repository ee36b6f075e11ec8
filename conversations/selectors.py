import statistics
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, F, Min, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from conversations.errors import ConversationNotFound
from conversations.models import Conversation, Message, OutboxEvent


def conversation_get(*, conversation_id) -> Conversation | None:
    """The conversation of the tenant in context, or None (also for a malformed id)."""
    try:
        conversation_uuid = uuid.UUID(str(conversation_id))
    except ValueError:
        return None
    return Conversation.objects.filter(pk=conversation_uuid).first()


def conversation_get_required(*, conversation_id) -> Conversation:
    """The conversation of the tenant in context; raises ConversationNotFound."""
    conversation = conversation_get(conversation_id=conversation_id)
    if conversation is None:
        raise ConversationNotFound()
    return conversation


def message_list(*, conversation: Conversation, after_seq: int = 0, limit: int | None = None) -> list[Message]:
    messages = Message.objects.filter(conversation=conversation, seq__gt=after_seq).order_by("seq")
    if limit is not None:
        messages = messages[:limit]
    return list(messages)


CONVERSATION_FIELDS = [
    "id",
    "status",
    "visitor_name",
    "locale",
    "page_url",
    "claimed_by_id",
    "claimed_by_name",
    "note",
    "created_at",
    "updated_at",
    "closed_at",
]
MESSAGE_FIELDS = ["seq", "direction", "text", "agent_name", "created_at"]


def conversation_document(*, conversation: Conversation) -> dict:
    """Everything stored about one conversation, as one JSON-ready document."""
    messages = list(Message.objects.filter(conversation=conversation).order_by("seq").values(*MESSAGE_FIELDS))
    agents = {m["agent_name"] for m in messages if m["agent_name"]}
    if conversation.claimed_by_name:
        agents.add(conversation.claimed_by_name)
    return {
        **{field: getattr(conversation, field) for field in CONVERSATION_FIELDS},
        "agents": sorted(agents),
        "messages": messages,
    }


def message_list_latest(*, conversation: Conversation, limit: int, before_seq: int | None = None) -> list[Message]:
    """The conversation's last `limit` messages (before `before_seq` if given), oldest first."""
    messages = Message.objects.filter(conversation=conversation)
    if before_seq is not None:
        messages = messages.filter(seq__lt=before_seq)
    latest = messages.order_by("-seq")[:limit]
    return list(reversed(latest))


def conversation_list(*, status: str = "") -> QuerySet[Conversation]:
    """The tenant's conversations, the most recently active first."""
    conversations = Conversation.objects.order_by("-updated_at", "-pk")
    if status:
        conversations = conversations.filter(status=status)
    return conversations


def conversation_export_list(*, status: str = "") -> QuerySet[Conversation]:
    """Conversations with their messages (`conversation.messages.all()`, by seq), oldest first
    so that pages stay stable while new conversations arrive."""
    conversations = Conversation.objects.order_by("created_at", "pk").prefetch_related(
        Prefetch("messages", queryset=Message.objects.order_by("seq"))
    )
    if status:
        conversations = conversations.filter(status=status)
    return conversations


def conversation_synthetic_get() -> Conversation | None:
    """The tenant's open synthetic conversation (the deep health check's), if any."""
    return (
        Conversation.objects.filter(is_synthetic=True)
        .exclude(status=Conversation.Status.CLOSED)
        .order_by("-created_at")
        .first()
    )


REPORT_DAYS = 30


@dataclass(frozen=True)
class ConversationReport:
    """A tenant's numbers for its staff (the admin's report page)."""

    since: datetime
    per_day: list[tuple[date, int]]  # conversations started, each of the last REPORT_DAYS days
    first_reply_p50: timedelta | None  # from start to the first agent message
    first_reply_p90: timedelta | None
    messages_in: int
    messages_out: int
    by_status: dict[str, int]  # now
    outbox_pending: int
    outbox_oldest_pending: datetime | None
    outbox_dead: int


class _PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, *, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), output_field=DurationField(), **extra)


def conversation_report(*, now: datetime | None = None) -> ConversationReport:
    """Five queries, each on an index: conversations by (tenant, created_at) and (tenant,
    status), messages by conversation, the outbox by (tenant, status)."""
    now = now or timezone.now()
    today = now.date()
    since = datetime.combine(today - timedelta(days=REPORT_DAYS - 1), datetime.min.time(), tzinfo=now.tzinfo)
    recent = Conversation.objects.filter(created_at__gte=since)

    started = dict(
        recent.annotate(day=TruncDate("created_at")).values_list("day").annotate(count=Count("id")).order_by()
    )
    per_day = [(day, started.get(day, 0)) for day in (since.date() + timedelta(days=n) for n in range(REPORT_DAYS))]

    p50, p90 = _first_reply_percentiles(recent)

    # A message written since `since` made its conversation active since then: the
    # (tenant, updated_at) index finds the conversations, the (conversation, seq) one their messages.
    directions = dict(
        Message.objects.filter(created_at__gte=since, conversation__updated_at__gte=since)
        .values_list("direction")
        .annotate(count=Count("id"))
        .order_by()
    )
    by_status = {status: 0 for status in Conversation.Status.values}
    by_status.update(Conversation.objects.values_list("status").annotate(count=Count("id")).order_by())
    outbox = OutboxEvent.objects.filter(status__in=[OutboxEvent.Status.PENDING, OutboxEvent.Status.DEAD]).aggregate(
        pending=Count("id", filter=Q(status=OutboxEvent.Status.PENDING)),
        oldest_pending=Min("created_at", filter=Q(status=OutboxEvent.Status.PENDING)),
        dead=Count("id", filter=Q(status=OutboxEvent.Status.DEAD)),
    )
    return ConversationReport(
        since=since,
        per_day=per_day,
        first_reply_p50=p50,
        first_reply_p90=p90,
        messages_in=directions.get(Message.Direction.INBOUND, 0),
        messages_out=directions.get(Message.Direction.OUTBOUND, 0),
        by_status=by_status,
        outbox_pending=outbox["pending"],
        outbox_oldest_pending=outbox["oldest_pending"],
        outbox_dead=outbox["dead"],
    )


def _first_reply_percentiles(conversations: QuerySet[Conversation]) -> tuple[timedelta | None, timedelta | None]:
    first_reply_at = (
        Message.objects.filter(conversation=OuterRef("pk"), direction=Message.Direction.OUTBOUND)
        .order_by("seq")
        .values("created_at")[:1]
    )
    waits = (
        conversations.annotate(first_reply_at=Subquery(first_reply_at))
        .filter(first_reply_at__isnull=False)
        .annotate(wait=F("first_reply_at") - F("created_at"))
    )
    if connection.vendor == "postgresql":
        found = waits.aggregate(p50=_PercentileCont("wait", fraction=0.5), p90=_PercentileCont("wait", fraction=0.9))
        return found["p50"], found["p90"]
    # The embedded SQLite of a first local run: few rows, computed here.
    seconds = sorted(wait.total_seconds() for wait in waits.values_list("wait", flat=True))
    if not seconds:
        return None, None
    if len(seconds) == 1:
        return timedelta(seconds=seconds[0]), timedelta(seconds=seconds[0])
    deciles = statistics.quantiles(seconds, n=10, method="inclusive")
    return timedelta(seconds=statistics.median(seconds)), timedelta(seconds=deciles[8])
