"""The retention job: what is kept, and for how long.

- closed conversations: Tenant.retention_days after they closed (0 keeps them), with their
  messages, outbox events and deliveries; their Telegram topics are removed through the
  outbox (conversations.services.conversations_purge);
- raw Telegram updates (they hold personal data): TELEGRAM_UPDATES_KEEP_DAYS;
- audit entries: AUDIT_KEEP_DAYS, through the audit table's one exception (`audit_purge`).

Work goes in batches of RETENTION_BATCH_SIZE, each its own short transaction. Two runs at
once share the work: a batch takes its conversations with SKIP LOCKED, so each is deleted
and counted by exactly one run.
"""

import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import Counter, Gauge

from audit.models import AuditEntry
from chatorical import tenancy
from chatorical.audit_trail import audit_record
from conversations import services
from conversations.models import Conversation, Message
from telegram_bridge.models import TelegramUpdate
from tenants.models import Tenant

logger = logging.getLogger(__name__)

PURGED_CONVERSATIONS = Counter(
    "chatorical_retention_purged_conversations_total", "Closed conversations purged by retention.", ["tenant"]
)
PURGED_MESSAGES = Counter("chatorical_retention_purged_messages_total", "Messages purged by retention.", ["tenant"])
LAST_SUCCESS = Gauge(
    "chatorical_retention_last_success_timestamp_seconds", "When the last complete retention run finished (Unix time)."
)
RUN_DURATION = Gauge("chatorical_retention_run_duration_seconds", "How long the last retention run took.")


@dataclass
class TenantPurge:
    tenant: str
    conversations: int = 0
    messages: int = 0
    telegram_updates: int = 0
    audit_entries: int = 0


def retention_run(*, tenant_slug: str | None = None, dry_run: bool = False, now: datetime | None = None):
    """Applies retention to every tenant (or one); returns what each lost, or would lose
    with `dry_run`. One summary entry per tenant goes to its audit log."""
    started = time.monotonic()
    now = now or timezone.now()
    tenants = Tenant.objects.order_by("pk")
    if tenant_slug is not None:
        tenants = tenants.filter(slug=tenant_slug)
    results = []
    for tenant in tenants:
        with tenancy.tenant_context(tenant):
            result = _tenant_retention(tenant, now=now, dry_run=dry_run)
            if not dry_run:
                audit_record(
                    tenant_id=tenant.id,
                    action="retention.run",
                    object_type="tenants.tenant",
                    object_id=tenant.pk,
                    detail={**asdict(result), "retention_days": tenant.retention_days},
                )
        results.append(result)
    if not dry_run:
        RUN_DURATION.set(time.monotonic() - started)
        if tenant_slug is None:
            LAST_SUCCESS.set(time.time())
    return results


def _tenant_retention(tenant: Tenant, *, now: datetime, dry_run: bool) -> TenantPurge:
    result = TenantPurge(tenant=tenant.slug)
    if tenant.retention_days:
        expired = Conversation.objects.filter(
            status=Conversation.Status.CLOSED, closed_at__lt=now - timedelta(days=tenant.retention_days)
        )
        if dry_run:
            result.conversations = expired.count()
            result.messages = Message.objects.filter(conversation__in=expired).count()
        else:
            _conversations_purge(expired, result)
    updates = TelegramUpdate.objects.filter(received_at__lt=now - timedelta(days=settings.TELEGRAM_UPDATES_KEEP_DAYS))
    entries = AuditEntry.objects.filter(created_at__lt=now - timedelta(days=settings.AUDIT_KEEP_DAYS))
    if dry_run:
        result.telegram_updates = updates.count()
        result.audit_entries = entries.count()
    else:
        result.telegram_updates = _batched_delete(updates)
        result.audit_entries = audit_purge(before=now - timedelta(days=settings.AUDIT_KEEP_DAYS))
    return result


def _conversations_purge(expired, result: TenantPurge) -> None:
    batch_size = settings.RETENTION_BATCH_SIZE
    while True:
        with transaction.atomic():
            # Locked here, skipping those another run holds; purged in the same transaction.
            ids = list(
                expired.select_for_update(skip_locked=True)
                .order_by("closed_at", "pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                return
            purged = services.conversations_purge(conversation_ids=ids)
        result.conversations += len(purged.conversations)
        result.messages += purged.messages
        PURGED_CONVERSATIONS.labels(tenant=result.tenant).inc(len(purged.conversations))
        PURGED_MESSAGES.labels(tenant=result.tenant).inc(purged.messages)


def _batched_delete(queryset) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.select_for_update(skip_locked=True).values_list("pk", flat=True)[: _batch_rows()])
            if not ids:
                return deleted
            count, _ = queryset.model.objects.filter(pk__in=ids).delete()
        deleted += count


def _batch_rows() -> int:
    # Raw updates and audit entries are small rows with nothing hanging off them.
    return settings.RETENTION_BATCH_SIZE * 10


def audit_purge(*, before: datetime) -> int:
    """Deletes the tenant's audit entries older than `before`: the one way past the audit
    table's append-only trigger, which lets these deletes through only in a transaction
    that names the cut-off (at least 400 days ago) and only for entries older than it."""
    entries = AuditEntry.objects.filter(created_at__lt=before)
    deleted = 0
    while True:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('chatorical.audit_purge_before', %s, true)", [before.isoformat()])
            ids = list(entries.select_for_update(skip_locked=True).values_list("pk", flat=True)[: _batch_rows()])
            if not ids:
                return deleted
            count, _ = AuditEntry.objects.filter(pk__in=ids).delete()
        deleted += count
