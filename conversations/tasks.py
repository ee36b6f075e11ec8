"""Celery entry points of the outbox (conversations/outbox.py holds its protocol)."""

from celery import shared_task

from conversations import outbox


@shared_task(acks_late=True)
def outbox_drain_conversation(*, tenant_id: int, conversation_id: str) -> int:
    return outbox.drain_task_run(tenant_id=tenant_id, conversation_id=conversation_id)


@shared_task(acks_late=True)
def outbox_sweep() -> int:
    return outbox.sweep()
