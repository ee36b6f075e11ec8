"""Delivering billing's outbox events (plan usage warnings) as soon as they are committed;
what this misses (the queue down), the outbox sweep delivers."""

import logging

from celery import shared_task

from chatorical import tenancy
from conversations.outbox import drain_conversation
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def billing_warnings_deliver_soon(tenant_id: int) -> None:
    try:
        billing_warnings_deliver.delay(tenant_id=tenant_id)
    except Exception:
        # Stored in the outbox: the sweep delivers it.
        logger.exception("could not queue the billing warnings of tenant %s", tenant_id)


@shared_task(acks_late=True)
def billing_warnings_deliver(*, tenant_id: int) -> int:
    """Delivers the tenant's pending billing warnings: its outbox events of no conversation."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenancy.tenant_context(tenant):
        return drain_conversation(None)
