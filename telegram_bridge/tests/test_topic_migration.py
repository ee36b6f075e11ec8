"""The migrations that move the topic's columns to TelegramTopic and the messages' outbox
rows to the message log, on real PostgreSQL, forwards and back, without loss."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("conversations", "0006_traceparent"), ("telegram_bridge", "0002_traceparent")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_topics_and_undelivered_messages_survive_the_move_both_ways(default_tenant):
    old = migrate(BEFORE)
    Conversation, Message, OutboxEvent = (
        old.get_model("conversations", name) for name in ("Conversation", "Message", "OutboxEvent")
    )
    with_topic = Conversation.objects.create(
        tenant_id=default_tenant.id, chat_id=-100123, thread_id=77, header_message_id=5, last_seq=3
    )
    without_topic = Conversation.objects.create(tenant_id=default_tenant.id, last_seq=0)
    now = timezone.now()
    messages = [
        Message.objects.create(
            tenant_id=default_tenant.id, conversation=with_topic, seq=seq, direction="INBOUND", text=f"m{seq}"
        )
        for seq in (1, 2, 3)
    ]
    for message, status in zip(messages, ["done", "pending", "pending"], strict=True):
        OutboxEvent.objects.create(
            tenant_id=default_tenant.id,
            conversation=with_topic,
            kind="MessageAdded",
            payload={"message_id": message.id},
            status=status,
            available_at=now,
        )
    closed = OutboxEvent.objects.create(
        tenant_id=default_tenant.id, conversation=with_topic, kind="ConversationClosed", available_at=now
    )

    new = migrate(leaves())
    TelegramTopic = new.get_model("telegram_bridge", "TelegramTopic")
    OutboxCursor = new.get_model("conversations", "OutboxCursor")
    NewEvent = new.get_model("conversations", "OutboxEvent")
    topic = TelegramTopic.objects.get(pk=with_topic.pk)
    assert (topic.tenant_id, topic.chat_id, topic.thread_id, topic.header_message_id) == (
        default_tenant.id,
        -100123,
        77,
        5,
    )
    assert not TelegramTopic.objects.filter(pk=without_topic.pk).exists()
    assert OutboxCursor.objects.get(pk=with_topic.pk).delivered_seq == 1, "messages 2 and 3 are still to send"
    assert OutboxCursor.objects.get(pk=without_topic.pk).delivered_seq == 0
    assert not NewEvent.objects.filter(kind="MessageAdded", status="pending").exists()
    assert NewEvent.objects.get(pk=closed.pk).seq == 3, "the close comes after the messages before it"
    assert {f.name for f in new.get_model("conversations", "Conversation")._meta.fields}.isdisjoint(
        {"chat_id", "thread_id", "header_message_id"}
    )

    back = migrate(BEFORE)
    restored = back.get_model("conversations", "Conversation").objects.get(pk=with_topic.pk)
    assert (restored.chat_id, restored.thread_id, restored.header_message_id) == (-100123, 77, 5)
    pending = back.get_model("conversations", "OutboxEvent").objects.filter(kind="MessageAdded", status="pending")
    assert sorted(event.payload["message_id"] for event in pending) == [messages[1].id, messages[2].id]
    migrate(leaves())
