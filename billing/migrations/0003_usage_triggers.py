"""Counts conversations and messages in the transaction that writes them.

A trigger adds one to the tenant's counter of the row's UTC day, in the row of the
writing session (its backend pid): exact under any number of concurrent writers, as the
count commits or rolls back with the row, and no writer waits on another's counter.
Synthetic conversations (the deep health check) and their messages are not counted.

PostgreSQL only: the embedded SQLite of a first local run counts no usage.
"""

from django.db import migrations

# Migration 0004 puts this one back when it is reversed.
COUNT_MESSAGE_PER_ROW = """
CREATE FUNCTION billing_count_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM conversations_conversation WHERE id = NEW.conversation_id AND is_synthetic
    ) THEN
        PERFORM billing_usage_add(
            NEW.tenant_id, NEW.created_at,
            CASE WHEN NEW.direction = 'INBOUND' THEN 'messages_in' ELSE 'messages_out' END
        );
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER billing_count_message AFTER INSERT ON conversations_message
    FOR EACH ROW EXECUTE FUNCTION billing_count_message();
"""

COUNT_FUNCTION = (
    """
CREATE FUNCTION billing_usage_add(tenant bigint, at timestamptz, counted text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO billing_usagecounter (tenant_id, day, metric, shard, value)
    VALUES (tenant, (at AT TIME ZONE 'UTC')::date, counted, pg_backend_pid(), 1)
    ON CONFLICT (tenant_id, day, metric, shard) DO UPDATE SET value = billing_usagecounter.value + 1
$$;

CREATE FUNCTION billing_count_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.is_synthetic THEN
        PERFORM billing_usage_add(NEW.tenant_id, NEW.created_at, 'conversations');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER billing_count_conversation AFTER INSERT ON conversations_conversation
    FOR EACH ROW EXECUTE FUNCTION billing_count_conversation();
"""
    + COUNT_MESSAGE_PER_ROW
)

DROP = """
DROP TRIGGER IF EXISTS billing_count_message ON conversations_message;
DROP TRIGGER IF EXISTS billing_count_conversation ON conversations_conversation;
DROP FUNCTION IF EXISTS billing_count_message();
DROP FUNCTION IF EXISTS billing_count_conversation();
DROP FUNCTION IF EXISTS billing_usage_add(bigint, timestamptz, text);
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(COUNT_FUNCTION)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_plans"), ("conversations", "0003_outbox_conversation_pending")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
