"""Outbox handlers: what each domain event does in the tenant's support group."""

import logging

from django.db import transaction
from django.utils import timezone

from chatorical import tenancy
from conversations.models import Conversation, Message, OutboxEvent
from conversations.outbox import outbox_handler
from telegram_bridge import topics
from telegram_bridge.bridge import Bridge
from telegram_bridge.models import TelegramDelivery
from telegram_bridge.text import TELEGRAM_TEXT_LIMIT, split_text, utf16_length
from tenants.models import Tenant

logger = logging.getLogger(__name__)

Kind = OutboxEvent.Kind


def _bridge_and_conversation(event: OutboxEvent) -> tuple[Bridge | None, Conversation]:
    tenant = Tenant.objects.get(pk=tenancy.require_tenant().id)
    conversation = Conversation.objects.get(pk=event.conversation_id)
    return Bridge.for_tenant(tenant), conversation


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


@outbox_handler(Kind.AGENT_HINT)
def on_agent_hint(event: OutboxEvent) -> None:
    bridge, conversation = _bridge_and_conversation(event)
    if bridge:
        _deliver(bridge, conversation, [event], event.payload["text"], history_before_seq=conversation.last_seq + 1)


@outbox_handler(Kind.MESSAGE_ADDED)
def on_message_added(event: OutboxEvent) -> None:
    bridge, conversation = _bridge_and_conversation(event)
    message = Message.objects.filter(pk=event.payload["message_id"]).first()
    if bridge is None or message is None or message.telegram_message_id is not None:
        return  # an agent's message from Telegram is already there
    events, text = [event], _post_text(message)
    if message.direction == Message.Direction.INBOUND:
        events, text = _merge_backlog(event, message)
    _deliver(bridge, conversation, events, text, history_before_seq=message.seq)


def _post_text(message: Message) -> str:
    if message.direction == Message.Direction.INBOUND:
        return message.text  # verbatim: the topic already names the visitor
    return f"{message.agent_name or 'Agent'}: {message.text}"


def _merge_backlog(head: OutboxEvent, message: Message) -> tuple[list[OutboxEvent], str]:
    """When visitor messages queue up behind the group's send budget, the consecutive ones
    go out as one post, so the backlog drains at the budget's pace without reordering."""
    if TelegramDelivery.objects.filter(event=head).exists():
        return [head], message.text  # a long text half sent: finish it alone
    following = (
        OutboxEvent.objects.select_for_update(skip_locked=True)
        .filter(conversation_id=head.conversation_id, status=OutboxEvent.Status.PENDING, id__gt=head.id)
        .order_by("id")[:50]
    )
    events, texts, units = [head], [message.text], utf16_length(message.text)
    for candidate in following:
        if candidate.kind != Kind.MESSAGE_ADDED:
            break
        next_message = Message.objects.filter(pk=candidate.payload["message_id"]).first()
        if next_message is None or next_message.direction != Message.Direction.INBOUND:
            break
        units += 1 + utf16_length(next_message.text)
        if units > TELEGRAM_TEXT_LIMIT:
            break
        events.append(candidate)
        texts.append(next_message.text)
    return events, "\n".join(texts)


def _deliver(
    bridge: Bridge, conversation: Conversation, events: list[OutboxEvent], text: str, *, history_before_seq: int
) -> None:
    """Posts `text` (in parts if long) for `events`, skipping parts sent by an earlier try."""
    head = events[0]
    sent = set(TelegramDelivery.objects.filter(event=head).values_list("part", flat=True))
    for part, chunk in enumerate(split_text(text)):
        if part in sent or not chunk.strip():
            continue
        message_id = topics.topic_post(bridge, conversation, chunk, history_before_seq=history_before_seq)
        with transaction.atomic():
            TelegramDelivery.objects.create(
                tenant_id=head.tenant_id, event=head, part=part, telegram_message_id=message_id
            )
    merged = [event.pk for event in events[1:]]
    if merged:
        OutboxEvent.objects.filter(pk__in=merged).update(status=OutboxEvent.Status.DONE, processed_at=timezone.now())
        logger.info("merged %s queued visitor messages into one post", len(merged) + 1)
