"""What conversations asks of the app that brings the agents in (telegram_bridge). That app
registers its answers at startup (its AppConfig.ready), so conversations imports nothing
of it, as with the outbox's handlers."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class AgentChannel:
    # Whether a visitor's messages may reach no agent for now (the widget's `offline` note).
    offline: Callable[..., bool]
    # The last unresolved problem of the tenant's channel (for the admin), if any.
    problem: Callable[[int], str | None]
    # Called in the transaction that deletes these conversations, before it deletes them.
    conversations_removed: Callable[[list], None]


_channel: AgentChannel | None = None


def agent_channel_register(channel: AgentChannel) -> None:
    global _channel
    _channel = channel


def agents_offline(*, tenant) -> bool:
    """Without a channel, no agent can be reached."""
    return _channel.offline(tenant=tenant) if _channel else True


def agent_channel_problem(tenant_id: int) -> str | None:
    return _channel.problem(tenant_id) if _channel else None


def conversations_removed(conversations: list) -> None:
    if _channel:
        _channel.conversations_removed(conversations)
