from celery import shared_task
from django.utils import timezone

from billing import services
from billing.models import Subscription
from chatorical import tenancy
from conversations.outbox import drain_conversation
from tenants.models import Tenant


@shared_task(acks_late=True)
def billing_warnings_deliver(*, tenant_id: int) -> int:
    """Delivers the tenant's pending billing warnings: its outbox events of no conversation."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenancy.tenant_context(tenant):
        return drain_conversation(None)


@shared_task(acks_late=True)
def usage_counters_compact() -> int:
    return services.usage_counters_compact()


@shared_task(acks_late=True)
def subscription_downgrades_apply() -> int:
    """Moves to free the tenants whose cancelled period ended or whose grace ran out."""
    now = timezone.now()
    with tenancy.cross_tenant("downgrades due are found across every tenant's subscription"):
        subscriptions = Subscription.objects.select_related("tenant").exclude(tenant__plan=services.FREE_PLAN)
        due = list(
            subscriptions.filter(downgrade_at__lte=now)
            | subscriptions.filter(grace_until__lte=now, downgrade_at__isnull=True)
        )
    moved = 0
    for subscription in due:
        with tenancy.tenant_context(subscription.tenant):
            moved += services.subscription_downgrade_if_due(subscription=subscription, now=now)
    return moved
