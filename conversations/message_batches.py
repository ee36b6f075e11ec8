"""The sockets' messages of one process, stored in batches.

Each message from a socket costs a statement and a Redis round trip to wake the outbox
worker. Under load many arrive within a few milliseconds: those that wait while earlier
batches are stored go together into one socket_messages_add call, one statement and one
Redis pipeline (chatorical/batcher.py).
"""

import asyncio

from chatorical import async_db
from chatorical.batcher import Batcher, per_event_loop
from conversations import services
from conversations.errors import ConversationClosed
from conversations.models import Message

MESSAGE_BATCH_MAX = 100
# Each batch in flight holds a connection of the loop's pool (chatorical/async_db.py).
# One at a time while batches take the usual few milliseconds: each batch costs a commit,
# and concurrent ones wrote the same conversations' rows, each waiting for the other's
# commit (README: Performance). More when the running ones have taken
# MESSAGE_BATCH_STALL_SECONDS (waiting on a row lock another process holds), without their
# conversations, so that one stuck conversation does not hold up every socket of the process.
MESSAGE_BATCHES_IN_FLIGHT = async_db.CONNECTIONS_MAX
MESSAGE_BATCH_STALL_SECONDS = 0.05


async def _store(items: list[tuple]) -> list:
    """Stores each tenant's messages with one socket_messages_add. Each tenant's messages
    commit on their own, so a tenant's failure goes to its callers alone."""
    results: list = [None] * len(items)
    by_tenant: dict[int, list[int]] = {}
    for index, (tenant, _) in enumerate(items):
        by_tenant.setdefault(tenant.id, []).append(index)
    for indexes in by_tenant.values():
        try:
            stored = await services.socket_messages_add(
                tenant=items[indexes[0]][0], messages=[items[index][1] for index in indexes]
            )
        except Exception as error:
            stored = [error] * len(indexes)
        for index, message in zip(indexes, stored, strict=True):
            results[index] = message if message is not None else ConversationClosed()
    return results


def _conversation_of(item: tuple) -> object:
    return item[1].conversation.id


_batcher = per_event_loop(
    lambda: Batcher(
        _store,
        max_batch=MESSAGE_BATCH_MAX,
        max_in_flight=MESSAGE_BATCHES_IN_FLIGHT,
        stall_seconds=MESSAGE_BATCH_STALL_SECONDS,
        key=_conversation_of,
    )
)


def message_add(*, tenant, message: services.NewMessage) -> "asyncio.Future[Message]":
    """services.message_add for a socket consumer (without fan-out), stored together with
    the messages other sockets of the process send at the same time. The message is queued
    when this returns, behind those queued before it; the future raises ApiError as
    message_add does. Check the text with services.clean_message_text first, as a bad one
    would fail the whole batch."""
    return _batcher().submit((tenant, message))
