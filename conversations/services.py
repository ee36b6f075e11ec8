"""Every write to conversations. Each records its domain event in the same transaction
and fans the visible part out to the conversation's sockets once it commits."""

import logging
from dataclasses import dataclass, replace
from datetime import UTC

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from chatorical import async_db, tenancy, tracing
from chatorical.audit_trail import audit_record
from chatorical.validation import text_check
from conversations import agent_channel, metrics, outbox, realtime, selectors
from conversations.errors import AlreadyClaimed, ConversationClosed, ConversationNotFound, InvalidName
from conversations.models import Conversation, Message, OutboxEvent
from conversations.outbox import event_record, wake_on_commit

logger = logging.getLogger(__name__)


def clean_message_text(text, *, field: str = "text") -> str:
    """A visitor's or agent's message (or note), checked as every text is."""
    return text_check(text, max_chars=settings.MESSAGE_MAX_CHARS, field=field)


def clean_visitor_name(name, *, required: bool = False) -> str:
    """The visitor's name with its whitespace collapsed; "" for none, unless `required`."""
    if name is None:
        name = ""
    elif not isinstance(name, str):
        raise InvalidName("`name` must be a string.")
    if "\x00" in name:
        raise InvalidName("`name` must not contain NUL characters.")
    name = " ".join(name.split())
    if len(name) > settings.VISITOR_NAME_MAX_CHARS:
        raise InvalidName(f"`name` is longer than {settings.VISITOR_NAME_MAX_CHARS} characters.")
    if required and not name:
        raise InvalidName("`name` must be a non-empty string.")
    return name


def _lock(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation.pk)


def _ensure_open(conversation: Conversation) -> None:
    if conversation.is_closed:
        raise ConversationClosed()


@transaction.atomic
def conversation_start(
    *, tenant, visitor_name: str = "", locale: str = "", page_url: str = "", is_synthetic: bool = False
) -> Conversation:
    conversation = Conversation.objects.create(
        tenant=tenant, visitor_name=visitor_name, locale=locale, page_url=page_url, is_synthetic=is_synthetic
    )
    event_record(conversation=conversation, kind=OutboxEvent.Kind.CONVERSATION_STARTED)
    if not is_synthetic:
        label = metrics.tenant_label(tenant.slug)
        transaction.on_commit(lambda: metrics.CONVERSATIONS_STARTED.labels(tenant=label).inc())
    return conversation


@dataclass(frozen=True)
class NewMessage:
    """One message for messages_add."""

    conversation: Conversation
    direction: str
    text: str
    agent_name: str = ""
    telegram_message_id: int | None = None
    # The trace the message belongs to, when it is not the current one (a socket's
    # messages are stored in a batch, outside their frames' spans).
    traceparent: str = ""


def message_add(
    *,
    conversation: Conversation,
    direction: str,
    text: str,
    agent_name: str = "",
    telegram_message_id: int | None = None,
    fan_out: bool = True,
) -> Message:
    """Stores a message with the next seq, then (on commit) fans it out and wakes a worker,
    which hands it on from the message log. The hot path of every chat message: see
    _messages_store."""
    new = NewMessage(
        conversation=conversation,
        direction=direction,
        text=text,
        agent_name=agent_name,
        telegram_message_id=telegram_message_id,
    )
    (message,) = messages_add(messages=[new], fan_out=fan_out)
    if message is None:
        raise ConversationClosed()
    return message


@transaction.atomic
def integration_message_add(*, conversation: Conversation, text: str, agent_name: str) -> Message:
    """An agent message sent by an integration (the API): stored as message_add stores it,
    and audited, which a chat message from a widget or from Telegram is not."""
    message = message_add(
        conversation=conversation, direction=Message.Direction.OUTBOUND, text=text, agent_name=agent_name
    )
    _audit(conversation, "message.create", detail={"seq": message.seq})
    return message


def messages_add(*, messages: list[NewMessage], fan_out: bool = True) -> list[Message | None]:
    """message_add for several messages of the tenant at once, in one database round trip:
    one result per message, in order, None where the conversation is closed. A text that
    is empty or too long raises for all, so callers batching many check each first with
    clean_message_text.

    `fan_out=False` is for callers that send the event themselves (the socket consumers,
    through socket_messages_add)."""
    if not messages:
        return []
    messages = [replace(new, text=clean_message_text(new.text)) for new in messages]
    stored = _messages_store(messages)
    tenant = tenancy.require_tenant()
    directions = [message.direction for message in stored if message is not None]
    transaction.on_commit(lambda: metrics.messages_stored(tenant_slug=tenant.slug, directions=directions))
    # An agent's message that came from Telegram is already there: the worker passes it
    # over when it next hands the conversation's messages on, and is not woken for it.
    woken = {
        message.conversation_id for message in stored if message is not None and message.telegram_message_id is None
    }
    wake_on_commit(tenant_id=tenant.id, conversation_ids=woken)
    if fan_out:
        for message in stored:
            if message is not None:
                realtime.broadcast_on_commit(message.conversation_id, realtime.message_event(message))
    return stored


# One statement, so one round trip, and atomic without a transaction of its own: bump the
# conversation's seq (its row lock orders concurrent writers) and insert the message. The
# message log is the outbox of messages (conversations/outbox.py): no event row. Nothing
# happens for a closed conversation or another tenant's.
_MESSAGE_STORE_SQL = """
WITH bumped AS (
    UPDATE {conversation} SET last_seq = last_seq + 1, updated_at = clock_timestamp()
    WHERE id = %(conversation_id)s AND tenant_id = %(tenant_id)s AND status <> %(closed)s
    RETURNING id, tenant_id, last_seq
)
INSERT INTO {message}
    (tenant_id, conversation_id, seq, direction, text, agent_name, telegram_message_id, created_at, traceparent)
SELECT tenant_id, id, last_seq,
    %(direction)s, %(text)s, %(agent_name)s, %(telegram_message_id)s, clock_timestamp(), %(traceparent)s
FROM bumped
RETURNING id, conversation_id, seq, created_at
"""

# The same for a batch, in one statement too: lock the batch's conversations in one order
# (by id, so that two processes' batches cannot deadlock), bump each one's seq by its count
# of messages and insert the messages, numbered in the batch's order. For one message the
# statement above costs less, in Python and in PostgreSQL.
_MESSAGES_STORE_SQL = """
WITH new AS (
    SELECT * FROM unnest(
        %(conversation_ids)s::uuid[], %(directions)s::text[], %(texts)s::text[],
        %(agent_names)s::text[], %(telegram_message_ids)s::bigint[], %(traceparents)s::text[]
    ) WITH ORDINALITY AS new (conversation_id, direction, text, agent_name, telegram_message_id, traceparent, n)
),
locked AS MATERIALIZED (
    SELECT id FROM {conversation}
    WHERE id IN (SELECT conversation_id FROM new) AND tenant_id = %(tenant_id)s AND status <> %(closed)s
    ORDER BY id
    FOR NO KEY UPDATE
),
bumped AS (
    UPDATE {conversation} AS conversation
    SET last_seq = conversation.last_seq + counted.messages, updated_at = clock_timestamp()
    FROM (SELECT conversation_id, count(*) AS messages FROM new GROUP BY conversation_id) AS counted
    WHERE conversation.id = counted.conversation_id AND conversation.id IN (SELECT id FROM locked)
    RETURNING conversation.id, conversation.tenant_id, conversation.last_seq - counted.messages AS seq_before
)
INSERT INTO {message}
    (tenant_id, conversation_id, seq, direction, text, agent_name, telegram_message_id, created_at, traceparent)
SELECT bumped.tenant_id, new.conversation_id,
    bumped.seq_before + row_number() OVER (PARTITION BY new.conversation_id ORDER BY new.n),
    new.direction, new.text, new.agent_name, new.telegram_message_id, clock_timestamp(), new.traceparent
FROM new JOIN bumped ON bumped.id = new.conversation_id
RETURNING id, conversation_id, seq, created_at
"""


def _messages_store(messages: list[NewMessage]) -> list[Message | None]:
    tenant = tenancy.require_tenant()
    if connection.vendor != "postgresql":
        _tenant_check(tenant_id=tenant.id, messages=messages)
        return [_message_store_portable(tenant_id=tenant.id, new=new) for new in messages]
    batch = _StoreBatch(tenant_id=tenant.id, messages=messages)
    # The driver's cursor, bypassing Django's, raises psycopg's errors: wrapped, they are
    # Django's own (DatabaseError), as callers expect when the database is away.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.execute(batch.sql, batch.params)
        return batch.stored(cursor.cursor.fetchall())


async def socket_messages_add(*, tenant, messages: list[NewMessage]) -> list[Message | None]:
    """messages_add(fan_out=False) for the socket consumers, run on their event loop: the
    same statement, on a connection of the loop's own (chatorical/async_db.py) in place of
    a database thread and Django's pool, then what messages_add runs once it commits."""
    if not async_db.supported():
        return await tenancy.run_for_tenant(tenant, messages_add, messages=messages, fan_out=False)
    if not messages:
        return []
    messages = [replace(new, text=clean_message_text(new.text)) for new in messages]
    batch = _StoreBatch(tenant_id=tenant.id, messages=messages)
    # The tenant's context, for the log lines and spans of what follows (the batch runs in
    # a task of its own, so the context goes with it).
    with tenancy.tenant_context(tenant):
        async with async_db.cursor() as cursor:
            await cursor.execute(batch.sql, batch.params)
            stored = batch.stored(await cursor.fetchall())
        directions = [message.direction for message in stored if message is not None]
        metrics.messages_stored(tenant_slug=tenant.slug, directions=directions)
        await outbox.wake(tenant_id=tenant.id, conversation_ids={m.conversation_id for m in stored if m is not None})
    return stored


def _tenant_check(*, tenant_id: int, messages: list[NewMessage]) -> None:
    for new in messages:
        if new.conversation.tenant_id != tenant_id:
            raise tenancy.TenantMismatch(
                f"conversation of tenant {new.conversation.tenant_id} written as tenant {tenant_id}"
            )


class _StoreBatch:
    """The statement that stores `messages` (_MESSAGE_STORE_SQL for one, _MESSAGES_STORE_SQL
    for more) and its parameters, and the messages made of the rows it returns (a
    conversation's rows, by seq, are its messages in the batch's order)."""

    tables = {"conversation": Conversation._meta.db_table, "message": Message._meta.db_table}
    one_sql = _MESSAGE_STORE_SQL.format(**tables)
    many_sql = _MESSAGES_STORE_SQL.format(**tables)

    def __init__(self, *, tenant_id: int, messages: list[NewMessage]):
        _tenant_check(tenant_id=tenant_id, messages=messages)
        self.tenant_id, self.messages = tenant_id, messages
        fields = [
            {
                "conversation_id": new.conversation.id,
                **_content(new),
                "traceparent": new.traceparent or tracing.traceparent(),
            }
            for new in messages
        ]
        common = {"tenant_id": tenant_id, "closed": Conversation.Status.CLOSED}
        if len(messages) == 1:
            self.sql, self.params = self.one_sql, {**common, **fields[0]}
        else:
            self.sql = self.many_sql
            self.params = {**common, **{f"{name}s": [each[name] for each in fields] for name in fields[0]}}

    def stored(self, rows: list) -> list[Message | None]:
        """One result per message, in the caller's order: None where nothing was stored."""
        rows_of: dict = {}  # each conversation's rows, the last seq first
        for message_id, conversation_id, seq, created_at in sorted(rows, key=lambda row: -row[2]):
            rows_of.setdefault(conversation_id, []).append((message_id, seq, created_at))
        return [
            _message_stored(tenant_id=self.tenant_id, new=new, row=rows_of[new.conversation.id].pop())
            if rows_of.get(new.conversation.id)
            else None
            for new in self.messages
        ]


def _content(new: NewMessage) -> dict:
    """The message's own fields, as the Message model and the statements name them."""
    return {
        "direction": new.direction,
        "text": new.text,
        "agent_name": new.agent_name,
        "telegram_message_id": new.telegram_message_id,
    }


def _message_stored(*, tenant_id: int, new: NewMessage, row: tuple) -> Message:
    message_id, seq, created_at = row
    message = Message(
        id=message_id,
        seq=seq,
        created_at=created_at.astimezone(UTC),  # whatever the session's time zone
        tenant_id=tenant_id,
        conversation=new.conversation,
        **_content(new),
    )
    message._state.adding, message._state.db = False, connection.alias
    return message


@transaction.atomic
def _message_store_portable(*, tenant_id: int, new: NewMessage) -> Message | None:
    """The same in several statements, for the embedded SQLite of a first local run."""
    conversation = _lock(new.conversation)
    if conversation.is_closed:
        return None
    conversation.last_seq += 1
    conversation.save(update_fields=["last_seq", "updated_at"])
    return Message.objects.create(
        tenant_id=tenant_id,
        conversation=conversation,
        seq=conversation.last_seq,
        traceparent=new.traceparent or tracing.traceparent(),
        **_content(new),
    )


@transaction.atomic
def conversation_rename(*, conversation: Conversation, visitor_name: str) -> Conversation:
    conversation = _lock(conversation)
    _ensure_open(conversation)
    if conversation.visitor_name == visitor_name:
        return conversation
    conversation.visitor_name = visitor_name
    conversation.save(update_fields=["visitor_name", "updated_at"])
    event_record(conversation=conversation, kind=OutboxEvent.Kind.CONVERSATION_RENAMED)
    return conversation


@transaction.atomic
def conversation_note(*, conversation: Conversation, note: str) -> Conversation:
    """An internal note for the agents; it is never shown to the visitor."""
    note = clean_message_text(note, field="note")
    conversation = _lock(conversation)
    conversation.note = note
    conversation.save(update_fields=["note", "updated_at"])
    event_record(conversation=conversation, kind=OutboxEvent.Kind.CONVERSATION_NOTED)
    return conversation


@transaction.atomic
def conversation_claim(*, conversation: Conversation, agent_id: int, agent_name: str) -> Conversation:
    conversation = _lock(conversation)
    _ensure_open(conversation)
    if conversation.claimed_by_id is not None:
        raise AlreadyClaimed(claimed_by=conversation.claimed_by_name)
    conversation.status = Conversation.Status.CLAIMED
    conversation.claimed_by_id = agent_id
    conversation.claimed_by_name = agent_name
    conversation.save(update_fields=["status", "claimed_by_id", "claimed_by_name", "updated_at"])
    event_record(
        conversation=conversation,
        kind=OutboxEvent.Kind.CONVERSATION_CLAIMED,
        payload={"agent_id": agent_id, "agent_name": agent_name},
    )
    realtime.broadcast_on_commit(conversation.id, realtime.agent_joined_event(agent=agent_name))
    _audit(conversation, "conversation.claim", changed_fields=["status", "claimed_by_id", "claimed_by_name"])
    return conversation


@transaction.atomic
def conversation_close(*, conversation: Conversation) -> Conversation:
    conversation = _lock(conversation)
    if conversation.is_closed:
        return conversation
    conversation.status = Conversation.Status.CLOSED
    conversation.closed_at = timezone.now()
    conversation.save(update_fields=["status", "closed_at", "updated_at"])
    event_record(conversation=conversation, kind=OutboxEvent.Kind.CONVERSATION_CLOSED)
    realtime.broadcast_on_commit(conversation.id, realtime.conversation_closed_event())
    _audit(conversation, "conversation.close", changed_fields=["status", "closed_at"])
    return conversation


def _audit(conversation: Conversation, action: str, **facts) -> None:
    if conversation.is_synthetic:
        return  # /health/deep's probe: a check of the system, not an action on data
    audit_record(
        tenant_id=conversation.tenant_id,
        action=action,
        object_type="conversations.conversation",
        object_id=conversation.pk,
        **facts,
    )


@dataclass(frozen=True)
class Purged:
    conversations: list[Conversation]
    messages: int


@transaction.atomic
def conversations_purge(*, conversation_ids: list) -> Purged:
    """Deletes the tenant's conversations among `conversation_ids` (others are ignored)
    with their messages, outbox events and deliveries; the agents' channel queues the
    removal of their topics (agent_channel). Records nothing in the audit log: callers do."""
    locked = Conversation.objects.select_for_update().filter(pk__in=conversation_ids)
    conversations = list(locked.order_by("pk"))
    if not conversations:
        return Purged(conversations=[], messages=0)
    agent_channel.conversations_removed(conversations)
    _, deleted = Conversation.objects.filter(pk__in=[c.pk for c in conversations]).delete()
    return Purged(conversations=conversations, messages=deleted.get(Message._meta.label, 0))


@transaction.atomic
def conversations_delete(*, conversation_ids: list) -> list[Conversation]:
    """Deletes the tenant's conversations among `conversation_ids` (others are ignored) as
    conversations_purge does, each recorded in the audit log; returns the deleted ones."""
    purged = conversations_purge(conversation_ids=conversation_ids)
    for conversation in purged.conversations:
        _audit(conversation, "conversation.delete")
    return purged.conversations


@transaction.atomic
def conversation_erase(*, conversation: Conversation) -> int:
    """Erases a conversation on request (right to erasure): the conversation, its messages
    and its topic, now. An open socket is sent `conversation_closed` and closed first.
    Returns how many messages were erased."""
    realtime.broadcast_on_commit(conversation.id, realtime.conversation_closed_event())
    purged = conversations_purge(conversation_ids=[conversation.pk])
    if not purged.conversations:
        raise ConversationNotFound()
    _audit(conversation, "conversation.erase", detail={"messages": purged.messages})
    return purged.messages


def conversation_export(*, conversation: Conversation) -> dict:
    """Everything stored about the conversation (export on request); the export is audited."""
    document = selectors.conversation_document(conversation=conversation)
    _audit(conversation, "conversation.export")
    return document
