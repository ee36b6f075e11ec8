"""Processing stored webhook updates, one tenant's updates in the order they arrived."""

import logging

from celery import shared_task
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from chatorical import tenancy, tracing
from telegram_bridge.bridge import Bridge
from telegram_bridge.models import TelegramUpdate
from telegram_bridge.updates import update_process
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def _oldest_locked() -> TelegramUpdate | None:
    # Only the oldest unprocessed update is ever taken, so two workers never reorder
    # an agent's messages: the second finds it locked and leaves.
    oldest = TelegramUpdate.objects.filter(processed_at__isnull=True).aggregate(oldest=Min("id"))["oldest"]
    if oldest is None:
        return None
    return (
        TelegramUpdate.objects.select_for_update(skip_locked=True).filter(pk=oldest, processed_at__isnull=True).first()
    )


def process_pending_updates(tenant: Tenant) -> int:
    bridge = Bridge.for_tenant(tenant)
    processed = 0
    while True:
        with transaction.atomic():
            update = _oldest_locked()
            if update is None:
                return processed
            if bridge is not None:
                try:
                    with tracing.span("telegram update", parent=update.traceparent), transaction.atomic():
                        update_process(bridge=bridge, update=update.payload)
                except Exception:
                    # A poison update is logged and passed over, never retried forever.
                    logger.exception("telegram update %s could not be processed", update.update_id)
            update.processed_at = timezone.now()
            update.save(update_fields=["processed_at"])
            processed += 1


@shared_task(acks_late=True)
def telegram_updates_process(*, tenant_id: int) -> int:
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenancy.tenant_context(tenant):
        return process_pending_updates(tenant)


@shared_task(acks_late=True)
def telegram_updates_sweep() -> int:
    """Picks up updates whose wake-up was lost (a crash between storing and processing)."""
    with tenancy.cross_tenant("sweep finds unprocessed updates of every tenant"):
        tenant_ids = set(
            TelegramUpdate.objects.filter(processed_at__isnull=True).order_by().values_list("tenant_id", flat=True)
        )
    return sum(telegram_updates_process.run(tenant_id=tenant_id) for tenant_id in tenant_ids)
