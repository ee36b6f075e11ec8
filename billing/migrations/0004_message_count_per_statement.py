"""Counts messages once per statement instead of once per row.

The row trigger of 0003 ran a function, a lookup of the conversation and an upsert of the
counter for each message: under load the sockets store tens of messages in one statement,
and the trigger cost as much as the rest of it. This one counts the statement's new rows
(a transition table) with one upsert per tenant, day and direction: the same counts, in
the same transaction, and in a batch of 100 the counter's cost fell from about 69 to under
10 µs per message (bench/billing.py).
"""

from importlib import import_module

from django.db import migrations

PER_STATEMENT = """
DROP TRIGGER billing_count_message ON conversations_message;
DROP FUNCTION billing_count_message();

CREATE FUNCTION billing_count_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_usagecounter AS counter (tenant_id, day, metric, shard, value)
    SELECT added.tenant_id, (added.created_at AT TIME ZONE 'UTC')::date,
        CASE WHEN added.direction = 'INBOUND' THEN 'messages_in' ELSE 'messages_out' END,
        pg_backend_pid(), count(*)
    FROM added JOIN conversations_conversation AS conversation ON conversation.id = added.conversation_id
    WHERE NOT conversation.is_synthetic
    GROUP BY 1, 2, 3
    ON CONFLICT (tenant_id, day, metric, shard) DO UPDATE SET value = counter.value + excluded.value;
    RETURN NULL;
END
$$;

CREATE TRIGGER billing_count_messages AFTER INSERT ON conversations_message
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION billing_count_messages();
"""

PER_ROW = (
    """
DROP TRIGGER billing_count_messages ON conversations_message;
DROP FUNCTION billing_count_messages();
"""
    + import_module("billing.migrations.0003_usage_triggers").COUNT_MESSAGE_PER_ROW
)


def count_per_statement(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PER_STATEMENT)


def count_per_row(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PER_ROW)


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_usage_triggers")]

    operations = [migrations.RunPython(count_per_statement, count_per_row)]
