"""The messages whose MessageAdded events were pending are delivered from the message log
now: each conversation gets its cursor (a migration of its own, as PostgreSQL does not
alter a table with pending trigger events in the same transaction)."""

from django.db import migrations, models
from django.db.models import Max, Min
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone


def cursors_from_pending_events(apps, schema_editor):
    """Each conversation's messages whose MessageAdded event is still pending stay to be
    delivered from the message log: its cursor stops before the first of them. Those
    events are done with; the other pending events keep their place after the messages."""
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    OutboxCursor = apps.get_model("conversations", "OutboxCursor")
    OutboxEvent = apps.get_model("conversations", "OutboxEvent")
    pending = OutboxEvent._base_manager.filter(status="pending")
    first_undelivered = dict(
        Message._base_manager.filter(
            pk__in=pending.filter(kind="MessageAdded")
            .annotate(message_id=Cast(KeyTextTransform("message_id", "payload"), models.BigIntegerField()))
            .values("message_id")
            .order_by()
        )
        .values("conversation_id")
        .annotate(first=Min("seq"))
        .values_list("conversation_id", "first")
    )
    rows = Conversation._base_manager.values_list("id", "tenant_id", "last_seq").iterator(chunk_size=2000)
    batch = []
    for conversation_id, tenant_id, last_seq in rows:
        first = first_undelivered.get(conversation_id)
        delivered = last_seq if first is None else first - 1
        batch.append(OutboxCursor(conversation_id=conversation_id, tenant_id=tenant_id, delivered_seq=delivered))
        if len(batch) >= 2000:
            OutboxCursor._base_manager.bulk_create(batch)
            batch = []
    OutboxCursor._base_manager.bulk_create(batch)
    # The other pending events come after the messages stored before them.
    for event in pending.exclude(kind="MessageAdded").exclude(conversation=None).iterator():
        before = Message._base_manager.filter(conversation_id=event.conversation_id, created_at__lte=event.created_at)
        event.seq = before.aggregate(seq=Max("seq"))["seq"] or 0
        event.save(update_fields=["seq"])
    pending.filter(kind="MessageAdded").update(status="done")


def pending_events_from_cursors(apps, schema_editor):
    """Back: the undelivered messages get their MessageAdded events again."""
    Message = apps.get_model("conversations", "Message")
    OutboxCursor = apps.get_model("conversations", "OutboxCursor")
    OutboxEvent = apps.get_model("conversations", "OutboxEvent")
    for cursor in OutboxCursor._base_manager.iterator():
        undelivered = Message._base_manager.filter(
            conversation_id=cursor.conversation_id, seq__gt=cursor.delivered_seq, telegram_message_id=None
        ).order_by("seq")
        OutboxEvent._base_manager.bulk_create(
            OutboxEvent(
                tenant_id=cursor.tenant_id,
                conversation_id=cursor.conversation_id,
                kind="MessageAdded",
                payload={"message_id": message.id},
                available_at=timezone.now(),
            )
            for message in undelivered
        )


class Migration(migrations.Migration):
    dependencies = [("conversations", "0007_outbox_cursor")]

    operations = [migrations.RunPython(cursors_from_pending_events, pending_events_from_cursors)]
