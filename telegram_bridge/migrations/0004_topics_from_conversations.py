"""Copies each conversation's topic columns to its TelegramTopic (and back)."""

from django.db import migrations


def topics_from_conversations(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    TelegramTopic = apps.get_model("telegram_bridge", "TelegramTopic")
    with_topic = Conversation._base_manager.exclude(chat_id=None, thread_id=None, header_message_id=None)
    rows = with_topic.values_list("id", "tenant_id", "chat_id", "thread_id", "header_message_id")
    batch = []
    for conversation_id, tenant_id, chat_id, thread_id, header_message_id in rows.iterator(chunk_size=2000):
        batch.append(
            TelegramTopic(
                conversation_id=conversation_id,
                tenant_id=tenant_id,
                chat_id=chat_id,
                thread_id=thread_id,
                header_message_id=header_message_id,
            )
        )
        if len(batch) >= 2000:
            TelegramTopic._base_manager.bulk_create(batch)
            batch = []
    TelegramTopic._base_manager.bulk_create(batch)


def conversations_from_topics(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    TelegramTopic = apps.get_model("telegram_bridge", "TelegramTopic")
    for topic in TelegramTopic._base_manager.iterator():
        Conversation._base_manager.filter(pk=topic.conversation_id).update(
            chat_id=topic.chat_id, thread_id=topic.thread_id, header_message_id=topic.header_message_id
        )


class Migration(migrations.Migration):
    dependencies = [("telegram_bridge", "0003_telegram_topic")]

    operations = [migrations.RunPython(topics_from_conversations, conversations_from_topics)]
