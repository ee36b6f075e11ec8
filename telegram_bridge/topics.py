"""A conversation's forum topic: created on start, titled after the visitor and the note,
headed by a pinned post with the Claim button, and replaced if someone deletes it."""

import logging

from django.db import transaction

from conversations import selectors
from conversations.models import Conversation, Message
from telegram_bridge import client as tg
from telegram_bridge.bridge import Bridge
from telegram_bridge.models import TelegramTopic
from templates_i18n.selectors import template_text

logger = logging.getLogger(__name__)

TOPIC_NAME_LIMIT = 128
CLAIM_PREFIX = "claim:"
HISTORY_IN_SUMMARY = 10


def topic_title(conversation: Conversation) -> str:
    title = conversation.visitor_name or f"Visitor {str(conversation.id)[:8]}"
    if conversation.note:
        title = f"{title} · {conversation.note}"
    title = " ".join(title.split())
    return title if len(title) <= TOPIC_NAME_LIMIT else title[: TOPIC_NAME_LIMIT - 1] + "…"


def claim_callback_data(conversation: Conversation) -> str:
    return f"{CLAIM_PREFIX}{conversation.id.hex}"


def _text(conversation: Conversation, key: str, **variables) -> str:
    return template_text(tenant_id=conversation.tenant_id, key=key, locale=conversation.locale, variables=variables)


def header_text(conversation: Conversation) -> str:
    if conversation.status == Conversation.Status.CLAIMED:
        status = _text(conversation, "status_claimed", agent=conversation.claimed_by_name)
    else:
        status = _text(conversation, f"status_{conversation.status}")
    return _text(
        conversation,
        "topic_header",
        visitor_name=conversation.visitor_name or "-",
        locale=conversation.locale or "-",
        page_url=conversation.page_url or "-",
        status=status,
    )


def header_markup(conversation: Conversation) -> dict | None:
    """The Claim button while nobody has claimed; None (an edit then drops it) after."""
    if conversation.status != Conversation.Status.OPEN:
        return None
    button = {"text": _text(conversation, "claim_button"), "callback_data": claim_callback_data(conversation)}
    return {"inline_keyboard": [[button]]}


def topic_of(conversation: Conversation) -> TelegramTopic:
    """The conversation's topic record; a new, empty one before its topic is opened."""
    topic, _ = TelegramTopic.objects.get_or_create(conversation_id=conversation.pk)
    return topic


def _save(topic: TelegramTopic, *fields: str) -> None:
    # Each step is recorded as soon as Telegram confirmed it, in a statement of its own
    # (the worker holds no transaction while it calls Telegram): a later refusal keeps it,
    # so a retry does not redo it. A crash between the call and this loses it, and the
    # step is repeated.
    TelegramTopic.objects.filter(pk=topic.pk).update(**{f: getattr(topic, f) for f in fields})


def topic_ensure(bridge: Bridge, conversation: Conversation, topic: TelegramTopic) -> None:
    """Creates the topic and its pinned header post, skipping what already exists."""
    if topic.thread_id is None:
        chat_id = bridge.support_chat_id
        created = bridge.call("createForumTopic", chat_id=chat_id, name=topic_title(conversation))
        # Read again: the call may have found the group upgraded to a supergroup.
        topic.chat_id, topic.thread_id = bridge.support_chat_id, created["message_thread_id"]
        topic.header_message_id = None
        with transaction.atomic():
            # Telegram just gave this id to a new topic, so a conversation still holding it
            # had its topic in a support group this tenant no longer uses: let it go.
            TelegramTopic.objects.filter(thread_id=topic.thread_id).exclude(pk=topic.pk).update(thread_id=None)
            _save(topic, "chat_id", "thread_id", "header_message_id")
    if topic.header_message_id is None:
        topic.header_message_id = bridge.post(
            chat_id=topic.chat_id,
            thread_id=topic.thread_id,
            text=header_text(conversation),
            reply_markup=header_markup(conversation),
        )
        _save(topic, "header_message_id")
        try:
            bridge.call(
                "pinChatMessage",
                chat_id=topic.chat_id,
                message_id=topic.header_message_id,
                disable_notification=True,
            )
        except tg.TelegramError as exc:
            # A header that is not pinned still works; the problem is reported by the bridge.
            logger.warning("could not pin the header of %s: %s", conversation.id, exc)


def topic_recreate(
    bridge: Bridge, conversation: Conversation, topic: TelegramTopic, *, history_before_seq: int
) -> None:
    """The topic was deleted: open a new one, with the latest history for context."""
    logger.warning("topic %s of conversation %s is gone; opening a new one", topic.thread_id, conversation.id)
    topic.thread_id = None
    _save(topic, "thread_id")
    topic_ensure(bridge, conversation, topic)
    recent = selectors.message_list_latest(
        conversation=conversation, limit=HISTORY_IN_SUMMARY, before_seq=history_before_seq
    )
    if recent:
        history = "\n".join(
            f"{'Visitor' if m.direction == Message.Direction.INBOUND else m.agent_name or 'Agent'}: {m.text[:300]}"
            for m in recent
        )
        bridge.post(
            chat_id=topic.chat_id,
            thread_id=topic.thread_id,
            text=_text(conversation, "topic_recreated", history=history)[:4096],
        )


def topic_post(
    bridge: Bridge, conversation: Conversation, topic: TelegramTopic, text: str, *, history_before_seq: int
) -> int:
    """Posts into the conversation's topic, replacing the topic if it was deleted (its
    summary shows the messages before `history_before_seq`) and reopening it if an agent
    closed it by hand."""
    topic_ensure(bridge, conversation, topic)
    try:
        return bridge.post(chat_id=topic.chat_id, thread_id=topic.thread_id, text=text)
    except tg.ThreadNotFound:
        topic_recreate(bridge, conversation, topic, history_before_seq=history_before_seq)
    except tg.TopicClosed:
        bridge.call("reopenForumTopic", chat_id=topic.chat_id, message_thread_id=topic.thread_id)
    return bridge.post(chat_id=topic.chat_id, thread_id=topic.thread_id, text=text)


def topic_refresh(bridge: Bridge, conversation: Conversation, topic: TelegramTopic) -> None:
    """Brings the title and the header post up to date with the conversation."""
    if topic.thread_id is None:
        return
    try:
        bridge.call(
            "editForumTopic",
            chat_id=topic.chat_id,
            message_thread_id=topic.thread_id,
            name=topic_title(conversation),
        )
        if topic.header_message_id:
            bridge.call(
                "editMessageText",
                chat_id=topic.chat_id,
                message_id=topic.header_message_id,
                text=header_text(conversation),
                reply_markup=header_markup(conversation),
            )
    except tg.ThreadNotFound:
        logger.info("topic of %s is gone; the next post will open a new one", conversation.id)


def topic_close(bridge: Bridge, conversation: Conversation, topic: TelegramTopic) -> None:
    topic_refresh(bridge, conversation, topic)
    if topic.thread_id is None:
        return
    try:
        bridge.call("closeForumTopic", chat_id=topic.chat_id, message_thread_id=topic.thread_id)
    except (tg.ThreadNotFound, tg.TopicClosed):
        pass
