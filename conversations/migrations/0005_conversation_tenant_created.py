from importlib import import_module

from django.db import migrations, models

# Every message updates its conversation's row: the index is built without holding them up.
AddIndexWithoutBlockingWrites = import_module(
    "conversations.migrations.0003_outbox_conversation_pending"
).AddIndexWithoutBlockingWrites


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0004_alter_outboxevent_kind"),
    ]

    operations = [
        AddIndexWithoutBlockingWrites(
            model_name="conversation",
            index=models.Index(fields=["tenant", "created_at"], name="conv_tenant_created"),
        ),
    ]
