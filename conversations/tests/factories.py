"""Builders for conversation rows, always through the services (so events are written too)."""

from chatorical import tenancy
from conversations import services
from conversations.models import Message
from conversations.tokens import AUDIENCE_V2, token_issue


def conversation_for(tenant, **fields):
    with tenancy.tenant_context(tenant):
        return services.conversation_start(tenant=tenant, **fields)


def message_for(conversation, *, text="hello", direction=Message.Direction.INBOUND, agent_name=""):
    with tenancy.tenant_context(conversation.tenant):
        return services.message_add(conversation=conversation, direction=direction, text=text, agent_name=agent_name)


def token_for(conversation, *, ttl_seconds=3600):
    return token_issue(conversation=conversation, ttl_seconds=ttl_seconds)


def v2_token_for(conversation, *, ttl_seconds=60):
    """A token of the v2 socket, as its token endpoint issues them."""
    return token_issue(conversation=conversation, ttl_seconds=ttl_seconds, audience=AUDIENCE_V2)


def rate_limits_set(tenant, **rate_limits):
    """Replaces the tenant's `rate_limits` overrides (chatorical/ratelimit.py)."""
    tenant.rate_limits = rate_limits
    tenant.save(update_fields=["rate_limits"])
