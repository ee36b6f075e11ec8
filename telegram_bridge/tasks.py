"""Processing stored webhook updates, one tenant's updates in the order they arrived."""

from celery import shared_task

from chatorical import tenancy
from telegram_bridge.selectors import tenants_with_pending_updates
from telegram_bridge.updates import process_pending_updates
from tenants.models import Tenant


@shared_task(acks_late=True)
def telegram_updates_process(*, tenant_id: int) -> int:
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenancy.tenant_context(tenant):
        return process_pending_updates(tenant)


@shared_task(acks_late=True)
def telegram_updates_sweep() -> int:
    """Picks up updates whose wake-up was lost (a crash between storing and processing)."""
    return sum(telegram_updates_process.run(tenant_id=tenant_id) for tenant_id in tenants_with_pending_updates())
