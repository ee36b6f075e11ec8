"""What agents do from Telegram is audited as those agents."""

from audit.models import AuditEntry
from chatorical import tenancy
from conversations.tests.factories import start
from telegram_bridge.tests.conftest import AGENT


def test_claims_and_closes_from_telegram_are_audited_as_the_agent(client, agents, default_tenant):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation)
    agents.say(conversation, "/close")
    with tenancy.tenant_context(default_tenant):
        recorded = list(
            AuditEntry.objects.filter(object_id=str(conversation.pk))
            .order_by("id")
            .values_list("action", "actor_type", "actor_id", "actor_name")
        )
    assert recorded == [
        ("conversation.claim", "telegram_agent", str(AGENT["id"]), AGENT["username"]),
        ("conversation.close", "telegram_agent", str(AGENT["id"]), AGENT["username"]),
    ]
