from celery import shared_task

from billing import services


@shared_task(acks_late=True)
def usage_counters_compact() -> int:
    return services.usage_counters_compact()


@shared_task(acks_late=True)
def subscription_downgrades_apply() -> int:
    """Moves to free the tenants whose cancelled period ended or whose grace ran out."""
    return services.subscription_downgrades_apply()
