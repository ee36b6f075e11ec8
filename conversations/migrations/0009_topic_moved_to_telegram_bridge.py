from django.db import migrations


class Migration(migrations.Migration):
    """The topic's columns live in telegram_bridge.TelegramTopic now (copied there first)."""

    dependencies = [
        ("conversations", "0008_outbox_cursors_from_events"),
        ("telegram_bridge", "0004_topics_from_conversations"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="conversation", name="conv_tenant_thread_unique"),
        migrations.RemoveField(model_name="conversation", name="chat_id"),
        migrations.RemoveField(model_name="conversation", name="header_message_id"),
        migrations.RemoveField(model_name="conversation", name="thread_id"),
    ]
