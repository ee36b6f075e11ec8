from celery import shared_task

from chatorical.actors import acting_as, system_actor
from lifecycle.retention import retention_run


@shared_task(acks_late=True)
def retention_run_daily() -> int:
    """Celery beat runs it daily at RETENTION_HOUR_UTC; returns conversations purged."""
    with acting_as(system_actor("retention")):
        return sum(result.conversations for result in retention_run())
