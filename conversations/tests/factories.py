"""Builders for conversation rows, always through the services (so events are written too)."""

from chatorical import tenancy
from conversations import services
from conversations.models import Message
from conversations.tokens import token_epoch, token_issue


def conversation_for(tenant, **fields):
    with tenancy.tenant_context(tenant):
        return services.conversation_start(tenant=tenant, **fields)


def message_for(conversation, *, text="hello", direction=Message.Direction.INBOUND, agent_name=""):
    with tenancy.tenant_context(conversation.tenant):
        return services.message_add(conversation=conversation, direction=direction, text=text, agent_name=agent_name)


def token_for(conversation, *, ttl_seconds=3600):
    """A token of the current Redis epoch, as the v2 token endpoint issues them."""
    return token_issue(conversation=conversation, ttl_seconds=ttl_seconds, epoch=token_epoch())
