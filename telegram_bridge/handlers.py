"""Outbox handlers: what each domain event, and each run of a conversation's messages,
does in the tenant's support group. The worker calls them outside any transaction; each
step Telegram confirms is recorded at once, in a statement of its own."""

import logging

from django.db.models import QuerySet

from conversations.models import Conversation, Message, OutboxEvent
from conversations.outbox import messages_handler, outbox_handler, unattached_event_record
from telegram_bridge import client as tg
from telegram_bridge import topics
from telegram_bridge.bridge import Bridge
from telegram_bridge.models import TelegramDelivery, TelegramTopic
from telegram_bridge.text import TELEGRAM_TEXT_LIMIT, split_text, utf16_length

logger = logging.getLogger(__name__)

Kind = OutboxEvent.Kind


def _bridge_and_topic(event: OutboxEvent) -> tuple[Bridge | None, Conversation, TelegramTopic | None]:
    # The worker read the conversation and its tenant when it took the conversation.
    bridge = Bridge.for_tenant(event.tenant)
    if bridge is None:
        return None, event.conversation, None
    return bridge, event.conversation, topics.topic_of(event.conversation)


def _parts_sent(event: OutboxEvent) -> QuerySet:
    """The parts of the event's post that Telegram confirmed on an earlier try."""
    return TelegramDelivery.objects.filter(event=event).values_list("part", flat=True)


def conversations_removed(conversations: list[Conversation]) -> None:
    """Queues the removal of the deleted conversations' topics (conversations'
    agent_channel calls it in the transaction that deletes them)."""
    removed = TelegramTopic.objects.filter(conversation_id__in=[c.pk for c in conversations], thread_id__isnull=False)
    for topic in removed.order_by("pk"):
        unattached_event_record(
            tenant_id=topic.tenant_id,
            kind=Kind.TOPIC_DELETE,
            payload={"chat_id": topic.chat_id, "thread_id": topic.thread_id, "conversation_id": str(topic.pk)},
        )


@outbox_handler(Kind.CONVERSATION_STARTED)
def on_conversation_started(event: OutboxEvent) -> None:
    bridge, conversation, topic = _bridge_and_topic(event)
    if bridge:
        topics.topic_ensure(bridge, conversation, topic)


@outbox_handler(Kind.CONVERSATION_CLAIMED)
@outbox_handler(Kind.CONVERSATION_RENAMED)
@outbox_handler(Kind.CONVERSATION_NOTED)
def on_conversation_changed(event: OutboxEvent) -> None:
    bridge, conversation, topic = _bridge_and_topic(event)
    if bridge:
        topics.topic_refresh(bridge, conversation, topic)


@outbox_handler(Kind.CONVERSATION_CLOSED)
def on_conversation_closed(event: OutboxEvent) -> None:
    bridge, conversation, topic = _bridge_and_topic(event)
    if bridge:
        topics.topic_close(bridge, conversation, topic)


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
    bridge, conversation, topic = _bridge_and_topic(event)
    if bridge is None:
        return
    sent = set(_parts_sent(event))
    for part, chunk in enumerate(split_text(event.payload["text"])):
        if part in sent or not chunk.strip():
            continue
        message_id = topics.topic_post(bridge, conversation, topic, chunk, history_before_seq=event.seq + 1)
        TelegramDelivery.objects.create(
            tenant_id=event.tenant_id, event=event, part=part, telegram_message_id=message_id
        )


@messages_handler
def on_messages(conversation: Conversation, messages: list[Message]) -> int:
    """Posts the first run of `messages` into the topic: consecutive visitor messages merged
    into one post as far as Telegram's length allows, so a backlog that waited for the
    group's send budget goes out in a few posts; an agent's message from the API alone.
    Agents' messages from Telegram are there already and are passed over."""
    bridge = Bridge.for_tenant(conversation.tenant)
    postable = [index for index, message in enumerate(messages) if message.telegram_message_id is None]
    if bridge is None or not postable:
        return messages[-1].seq
    messages = messages[postable[0] :]
    earlier = list(
        TelegramDelivery.objects.filter(conversation=conversation, first_seq=messages[0].seq).values_list(
            "part", "last_seq"
        )
    )
    if earlier:  # a long post that a try left half sent: the same messages, the parts not sent
        last_seq = earlier[0][1]
        run = [message for message in messages if message.seq <= last_seq]
    else:
        run = _run(messages)
    text = "\n".join(message.text for message in run) if len(run) > 1 else _post_text(run[0])
    parts = split_text(text)
    sent = {part for part, _ in earlier}
    topic = topics.topic_of(conversation)
    for part, chunk in enumerate(parts):
        if part in sent or not chunk.strip():
            continue
        message_id = topics.topic_post(bridge, conversation, topic, chunk, history_before_seq=run[0].seq)
        if len(parts) > 1:
            # A one-part post needs no record: if the worker dies before the cursor moves,
            # that one post is sent again, and nothing else.
            TelegramDelivery.objects.create(
                tenant_id=conversation.tenant_id,
                conversation=conversation,
                first_seq=run[0].seq,
                last_seq=run[-1].seq,
                part=part,
                telegram_message_id=message_id,
            )
    if len(run) > 1:
        logger.info("merged %s queued visitor messages into one post", len(run))
    return run[-1].seq


def _run(messages: list[Message]) -> list[Message]:
    run, units = [messages[0]], utf16_length(messages[0].text)
    if messages[0].direction != Message.Direction.INBOUND:
        return run
    for message in messages[1:]:
        if message.direction != Message.Direction.INBOUND or message.telegram_message_id is not None:
            break
        units += 1 + utf16_length(message.text)
        if units > TELEGRAM_TEXT_LIMIT:
            break
        run.append(message)
    return run


def _post_text(message: Message) -> str:
    if message.direction == Message.Direction.INBOUND:
        return message.text  # verbatim: the topic already names the visitor
    return f"{message.agent_name or 'Agent'}: {message.text}"
