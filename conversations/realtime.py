"""Fan-out of conversation events to every socket of the conversation, on every instance.

Events are sent after the transaction that stored them commits, so a socket never shows
something that was rolled back, and a socket that missed one can catch up from the table.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

EVENT_HANDLER_TYPE = "conversation.event"


def conversation_group(conversation_id) -> str:
    return f"conv.{conversation_id}"


def message_event(message) -> dict:
    """The message shape sent to widgets; v1 sockets strip `id`, `ts` and `seq`."""
    event = {"direction": message.direction, "text": message.text}
    if message.agent_name:
        event["agent"] = message.agent_name
    event.update(id=message.id, ts=message.created_at.isoformat(), seq=message.seq)
    return event


def info_note_event(*, text: str, key: str = "") -> dict:
    event = {"type": "info_note", "text": text}
    if key:
        event["key"] = key
    return event


def agent_joined_event(*, agent: str = "") -> dict:
    event = {"type": "agent_joined"}
    if agent:
        event["agent"] = agent
    return event


def conversation_closed_event() -> dict:
    return {"type": "conversation_closed"}


def broadcast_on_commit(conversation_id, event: dict) -> None:
    transaction.on_commit(lambda: broadcast(conversation_id, event))


def group_message(event: dict) -> dict:
    """The channel-layer message that carries `event` to the consumers of a group."""
    return {"type": EVENT_HANDLER_TYPE, "event": event}


def broadcast(conversation_id, event: dict) -> None:
    layer = get_channel_layer()
    try:
        async_to_sync(layer.group_send)(conversation_group(conversation_id), group_message(event))
    except Exception:
        # The event is stored; sockets catch up by seq on reconnect. Never fail the write.
        logger.exception("fan-out failed for conversation %s", conversation_id)
