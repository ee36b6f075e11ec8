"""Fan-out of conversation events to every socket of the conversation, on every instance.

Events are sent after the transaction that stored them commits, so a socket never shows
something that was rolled back, and a socket that missed one can catch up from the table.
"""

import asyncio
import logging
import os
import threading

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from chatorical import tracing

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
    # Built now: it takes along the trace of the change, which has ended by the commit.
    message = group_message(event)
    transaction.on_commit(lambda: broadcast(conversation_id, message))


def group_message(event: dict) -> dict:
    """The channel-layer message that carries `event` to the consumers of a group, with
    the trace it belongs to when tracing is on."""
    message = {"type": EVENT_HANDLER_TYPE, "event": event}
    parent = tracing.traceparent()
    if parent:
        message["traceparent"] = parent
    return message


SEND_TIMEOUT_SECONDS = 5
_sender_lock = threading.Lock()
_sender: asyncio.AbstractEventLoop | None = None
_sender_pid = 0


def _sender_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, on a thread of its own, for sends from sync code.

    async_to_sync outside a server's thread (a Celery worker, say) would build a new loop,
    and with it new Redis connections, for every send; this loop keeps them.
    """
    global _sender, _sender_pid
    with _sender_lock:
        # A forked worker process inherits the variable but not the thread running the loop.
        if _sender is None or _sender_pid != os.getpid():
            _sender, _sender_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_sender.run_forever, name="channel-layer-sender", daemon=True).start()
        return _sender


def broadcast(conversation_id, message: dict) -> None:
    """Sends a group_message to every socket of the conversation."""
    layer = get_channel_layer()
    group = conversation_group(conversation_id)
    try:
        if isinstance(layer, InMemoryChannelLayer):
            # Its queues belong to the server's own loop, which async_to_sync finds.
            async_to_sync(layer.group_send)(group, message)
        else:
            send = layer.group_send(group, message)
            asyncio.run_coroutine_threadsafe(send, _sender_loop()).result(SEND_TIMEOUT_SECONDS)
    except Exception:
        # The event is stored; sockets catch up by seq on reconnect. Never fail the write.
        logger.exception("fan-out failed for conversation %s", conversation_id)
