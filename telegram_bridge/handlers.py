"""Outbox handlers: what each domain event does in the tenant's support group."""

import logging
from itertools import takewhile

from django.db.models import Exists, QuerySet
from django.utils import timezone

from conversations.models import Conversation, Message, OutboxEvent
from conversations.outbox import outbox_handler
from telegram_bridge import client as tg
from telegram_bridge import topics
from telegram_bridge.bridge import Bridge
from telegram_bridge.models import TelegramDelivery
from telegram_bridge.text import TELEGRAM_TEXT_LIMIT, split_text, utf16_length

logger = logging.getLogger(__name__)

Kind = OutboxEvent.Kind


def _bridge_and_conversation(event: OutboxEvent) -> tuple[Bridge | None, Conversation]:
    # The worker's claim read both with the event (conversations/tasks.py).
    return Bridge.for_tenant(event.tenant), event.conversation


def _parts_sent(event: OutboxEvent) -> QuerySet:
    """The parts of the event's post that Telegram confirmed on an earlier try."""
    return TelegramDelivery.objects.filter(event=event).values_list("part", flat=True)


@outbox_handler(Kind.CONVERSATION_STARTED)
def on_conversation_started(event: OutboxEvent) -> None:
    bridge, conversation = _bridge_and_conversation(event)
    if bridge:
        topics.topic_ensure(bridge, conversation)


@outbox_handler(Kind.CONVERSATION_CLAIMED)
@outbox_handler(Kind.CONVERSATION_RENAMED)
@outbox_handler(Kind.CONVERSATION_NOTED)
def on_conversation_changed(event: OutboxEvent) -> None:
    bridge, conversation = _bridge_and_conversation(event)
    if bridge:
        topics.topic_refresh(bridge, conversation)


@outbox_handler(Kind.CONVERSATION_CLOSED)
def on_conversation_closed(event: OutboxEvent) -> None:
    bridge, conversation = _bridge_and_conversation(event)
    if bridge:
        topics.topic_close(bridge, conversation)


@outbox_handler(Kind.TOPIC_DELETE)
def on_topic_delete(event: OutboxEvent) -> None:
    """The conversation is gone (deleted, erased, purged); its topic goes too. A topic
    that is already gone is what we wanted; other refusals are retried as usual."""
    bridge = Bridge.for_tenant(event.tenant)
    if bridge is None:
        return
    try:
        bridge.call("deleteForumTopic", chat_id=event.payload["chat_id"], message_thread_id=event.payload["thread_id"])
    except tg.ThreadNotFound:
        logger.info("topic of conversation %s was already gone", event.payload["conversation_id"])


@outbox_handler(Kind.AGENT_HINT)
def on_agent_hint(event: OutboxEvent) -> None:
    bridge, conversation = _bridge_and_conversation(event)
    if bridge:
        _deliver(
            bridge,
            conversation,
            [event],
            event.payload["text"],
            history_before_seq=conversation.last_seq + 1,
            sent=set(_parts_sent(event)),
        )


@outbox_handler(Kind.MESSAGE_ADDED)
def on_message_added(event: OutboxEvent) -> None:
    bridge, conversation = _bridge_and_conversation(event)
    if bridge is None:
        return
    # Whether an earlier try posted parts comes with the message (a portable EXISTS, for
    # the embedded SQLite too); which parts, only in that rare case.
    message = (
        Message.objects.filter(pk=event.payload["message_id"]).annotate(partly_sent=Exists(_parts_sent(event))).first()
    )
    if message is None or message.telegram_message_id is not None:
        return  # an agent's message from Telegram is already there
    sent = set(_parts_sent(event)) if message.partly_sent else set()
    events, text = [event], _post_text(message)
    # A long text half sent is finished alone.
    if message.direction == Message.Direction.INBOUND and not sent:
        events, text = _merge_backlog(event, message)
    _deliver(bridge, conversation, events, text, history_before_seq=message.seq, sent=sent)


def _post_text(message: Message) -> str:
    if message.direction == Message.Direction.INBOUND:
        return message.text  # verbatim: the topic already names the visitor
    return f"{message.agent_name or 'Agent'}: {message.text}"


def _merge_backlog(head: OutboxEvent, message: Message) -> tuple[list[OutboxEvent], str]:
    """When visitor messages queue up behind the group's send budget, the consecutive ones
    go out as one post, so the backlog drains at the budget's pace without reordering."""
    following = (
        OutboxEvent.objects.select_for_update(skip_locked=True)
        .filter(conversation_id=head.conversation_id, status=OutboxEvent.Status.PENDING, id__gt=head.id)
        .order_by("id")[:50]
    )
    candidates = list(takewhile(lambda candidate: candidate.kind == Kind.MESSAGE_ADDED, following))
    messages = (
        Message.objects.in_bulk([candidate.payload["message_id"] for candidate in candidates]) if candidates else {}
    )
    events, texts, units = [head], [message.text], utf16_length(message.text)
    for candidate in candidates:
        next_message = messages.get(candidate.payload["message_id"])
        if next_message is None or next_message.direction != Message.Direction.INBOUND:
            break
        units += 1 + utf16_length(next_message.text)
        if units > TELEGRAM_TEXT_LIMIT:
            break
        events.append(candidate)
        texts.append(next_message.text)
    return events, "\n".join(texts)


def _deliver(
    bridge: Bridge,
    conversation: Conversation,
    events: list[OutboxEvent],
    text: str,
    *,
    history_before_seq: int,
    sent: set[int],
) -> None:
    """Posts `text` (in parts if long) for `events`, skipping the `sent` parts of the first
    event, which an earlier try posted."""
    head = events[0]
    for part, chunk in enumerate(split_text(text)):
        if part in sent or not chunk.strip():
            continue
        message_id = topics.topic_post(bridge, conversation, chunk, history_before_seq=history_before_seq)
        # In the drain's transaction, so a later refusal keeps it and a retry skips this
        # part. No savepoint of its own: a failed insert goes back to the worker's savepoint
        # around the handler, which drops this try's deliveries anyway.
        TelegramDelivery.objects.create(tenant_id=head.tenant_id, event=head, part=part, telegram_message_id=message_id)
    merged = [event.pk for event in events[1:]]
    if merged:
        OutboxEvent.objects.filter(pk__in=merged).update(status=OutboxEvent.Status.DONE, processed_at=timezone.now())
        logger.info("merged %s queued visitor messages into one post", len(merged) + 1)
