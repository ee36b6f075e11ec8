"""What agents do in the support group (claim, reply, note, close), and the queue of stored
webhook updates that brings it, one tenant's updates in the order they arrived."""

import json
import logging

from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import Counter
from psycopg.types.json import Jsonb

from chatorical import tenancy, tracing
from chatorical.actors import acting_as, telegram_agent_actor
from chatorical.errors import ApiError
from conversations import services
from conversations.models import Conversation, Message
from conversations.outbox import RetryLater
from telegram_bridge import client as tg
from telegram_bridge.bridge import Bridge
from telegram_bridge.models import TelegramUpdate
from telegram_bridge.selectors import conversation_in_topic
from telegram_bridge.services import agent_hint_add
from telegram_bridge.topics import CLAIM_PREFIX
from templates_i18n.selectors import template_text
from tenants.models import Tenant

logger = logging.getLogger(__name__)

IGNORED_UPDATES = Counter(
    "chatorical_telegram_updates_ignored_total",
    "Support-group updates not acted on because a bot, or no user, sent them",
    ["tenant", "reason"],
)


def agent_display_name(user: dict) -> str:
    return user.get("username") or user.get("first_name") or "Agent"


def update_process(*, bridge: Bridge, update: dict) -> None:
    """Acts on one update, inside the transaction that marks it processed: what it writes
    commits with that mark, or not at all."""
    # What an agent does from Telegram (claims, closes) is audited as that agent.
    user = (update.get("callback_query") or update.get("message") or {}).get("from")
    user = user if isinstance(user, dict) else {}
    actor = telegram_agent_actor(user_id=user.get("id", 0), name=agent_display_name(user))
    with acting_as(actor):
        if "callback_query" in update:
            if _from_a_person(bridge, update, update["callback_query"]):
                _on_callback(bridge, update["callback_query"])
        elif "message" in update:
            if _from_a_person(bridge, update, update["message"]):
                _on_message(bridge, update["message"])


def _from_a_person(bridge: Bridge, update: dict, action: dict) -> bool:
    """Only people in the support group claim, reply, note and close. Our own bot's posts
    (the topic service messages) are passed over quietly; other bots' and sender-less
    updates are logged and counted, as someone may be trying to act as an agent."""
    user = action.get("from")
    if isinstance(user, dict) and str(user.get("id")) == bridge.client.bot_id:
        return False
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        reason = "no_sender"
    elif user.get("is_bot"):
        reason = "bot"
    else:
        return True
    IGNORED_UPDATES.labels(tenant=bridge.tenant.slug, reason=reason).inc()
    logger.warning("telegram update %s ignored: %s", update.get("update_id"), reason.replace("_", " "))
    return False


def _conversation_in_topic(bridge: Bridge, message: dict) -> Conversation | None:
    chat_id, thread_id = message.get("chat", {}).get("id"), message.get("message_thread_id")
    if not message.get("is_topic_message"):
        return None  # General
    if not isinstance(chat_id, int) or not isinstance(thread_id, int):
        return None  # not Telegram's shape: no topic is looked up by it
    conversation = conversation_in_topic(chat_id=chat_id, thread_id=thread_id)
    # A group's topics move with its upgrade (Bridge._record_migration), so a topic found
    # in the configured group is in the support group: only another chat needs the read.
    if conversation is None or (chat_id != bridge.settings.support_group_id and not bridge.is_support_chat(chat_id)):
        return None
    return conversation


def _hint(conversation: Conversation, key: str, **variables) -> None:
    text = template_text(tenant_id=conversation.tenant_id, key=key, locale=conversation.locale, variables=variables)
    agent_hint_add(conversation=conversation, text=text)


def _claim(conversation: Conversation, user: dict) -> str | None:
    """Claims for `user`; returns why not, or None when the claim (or a re-claim) holds."""
    if conversation.claimed_by_id == user["id"]:
        return None
    try:
        services.conversation_claim(conversation=conversation, agent_id=user["id"], agent_name=agent_display_name(user))
    except ApiError as refusal:
        return refusal.message
    return None


def _on_callback(bridge: Bridge, query: dict) -> None:
    data = query.get("data") or ""
    message = query.get("message") or {}
    conversation = _conversation_in_topic(bridge, message)
    answer = None
    if data.startswith(CLAIM_PREFIX) and conversation and conversation.id.hex == data[len(CLAIM_PREFIX) :]:
        answer = _claim(conversation, query["from"]) or template_text(
            tenant_id=conversation.tenant_id, key="claimed_answer"
        )
    # After the commit: the worker holds the update's row (and the claim the conversation's)
    # until then, and no lock is held across a Bot API call.
    transaction.on_commit(lambda: _callback_answer(bridge, query_id=query["id"], text=answer))


def _callback_answer(bridge: Bridge, *, query_id: str, text: str | None) -> None:
    try:
        bridge.call("answerCallbackQuery", callback_query_id=query_id, text=text)
    except (tg.TelegramError, RetryLater) as exc:  # the button just stops spinning later
        logger.info("answerCallbackQuery failed: %s", exc)


def _on_message(bridge: Bridge, message: dict) -> None:
    user = message["from"]
    conversation = _conversation_in_topic(bridge, message)
    if conversation is None:
        return
    text = message.get("text")
    if text is None:
        if not any(key.startswith("forum_topic_") for key in message) and "new_chat_members" not in message:
            _hint(conversation, "hint_text_only")
        return
    if text.startswith("/"):
        _on_command(conversation, user, text)
    else:
        _on_agent_text(conversation, user, text, message["message_id"])


def _on_command(conversation: Conversation, user: dict, text: str) -> None:
    command, _, argument = text.partition(" ")
    command = command.split("@", 1)[0].lower()
    if command == "/claim":
        refusal = _claim(conversation, user)
        if refusal:
            agent_hint_add(conversation=conversation, text=refusal)
    elif command == "/close":
        services.conversation_close(conversation=conversation)
    elif command == "/note" and argument.strip():
        services.conversation_note(conversation=conversation, note=argument.strip())
    else:
        _hint(conversation, "hint_unknown_command")


def _on_agent_text(conversation: Conversation, user: dict, text: str, telegram_message_id: int) -> None:
    if conversation.is_closed:
        _hint(conversation, "hint_closed")
    elif conversation.claimed_by_id is None:
        _hint(conversation, "hint_claim_first")
    elif conversation.claimed_by_id != user["id"]:
        _hint(conversation, "hint_claimed_by_other", agent=conversation.claimed_by_name)
    else:
        try:
            services.message_add(
                conversation=conversation,
                direction=Message.Direction.OUTBOUND,
                text=text,
                agent_name=conversation.claimed_by_name,
                telegram_message_id=telegram_message_id,
            )
        except ApiError as refusal:
            agent_hint_add(conversation=conversation, text=refusal.message)


# --- the queue of stored updates, one tenant's in the order they arrived ----------------

_UPDATES = TelegramUpdate._meta.db_table

# Its commit does not wait for the disk (set_config's third argument: for this statement's
# transaction only): the webhook waits once, after processing (updates_durable), before
# Telegram hears that the update is safe.
_STORE_SQL = f"""
INSERT INTO {_UPDATES} (tenant_id, update_id, payload, traceparent, received_at)
SELECT %(tenant)s, %(update_id)s, %(payload)s, %(traceparent)s, now()
WHERE set_config('synchronous_commit', 'off', true) IS NOT NULL
ON CONFLICT (tenant_id, update_id) DO NOTHING
RETURNING id"""

# Only the oldest unprocessed update is ever taken, so two processes never reorder an
# agent's messages: the second finds it locked and leaves. Taken and marked processed in
# one statement; what processing it writes commits with the mark, or not at all. Should
# PostgreSQL crash before that transaction reaches the disk, the update is still waiting
# (the webhook acknowledged it once it was on disk) and the sweep processes it again; or
# it was lost with it, unacknowledged, and Telegram sends it again. So that commit need
# not wait for the disk (a millisecond of each agent's message).
_TAKE_SQL = f"""
UPDATE {_UPDATES} SET processed_at = now()
WHERE set_config('synchronous_commit', 'off', true) IS NOT NULL AND id = (
    SELECT id FROM {_UPDATES}
    WHERE processed_at IS NULL AND id = (
        SELECT id FROM {_UPDATES} WHERE tenant_id = %(tenant)s AND processed_at IS NULL ORDER BY id LIMIT 1
    )
    FOR UPDATE SKIP LOCKED
)
RETURNING id, update_id, payload, traceparent"""


# Written out, as the take is: run after every update a request processes, it costs less
# than the ORM's compiling of it.
_PENDING_SQL = f"SELECT EXISTS (SELECT 1 FROM {_UPDATES} WHERE tenant_id = %(tenant)s AND processed_at IS NULL)"


def update_store(*, update_id: int, payload: dict, traceparent: str) -> bool:
    """Stores an update of the tenant in context once (the seen-set), in one round trip;
    False when it was stored before (Telegram retries what it thinks was lost). Not yet
    on disk: the caller calls updates_durable before it acknowledges the update."""
    with connection.cursor() as cursor:
        cursor.execute(
            _STORE_SQL,
            {
                "tenant": tenancy.require_tenant().id,
                "update_id": update_id,
                "payload": Jsonb(payload),
                "traceparent": traceparent,
            },
        )
        return cursor.fetchone() is not None


def updates_durable() -> None:
    """Waits until what this process wrote so far is on disk: a commit that waits for the
    disk (one with a transaction id) flushes everything written before it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT txid_current()")


def _oldest_taken(tenant_id: int) -> tuple[int, int, str, str] | None:
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_SQL, {"tenant": tenant_id})
        return cursor.fetchone()


def _pending(tenant_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_PENDING_SQL, {"tenant": tenant_id})
        return bool(cursor.fetchone()[0])


def process_pending_updates(tenant: Tenant, *, limit: int | None = None) -> int:
    """Processes the tenant's stored updates, oldest first, until none is left, another
    process holds the oldest (it goes on with the rest), or `limit` are processed."""
    tenant_id = tenancy.require_tenant().id
    bridge = Bridge.for_tenant(tenant)
    processed = 0
    while limit is None or processed < limit:
        # The caller knows of one: the first take goes straight for it. After that, a look
        # without a transaction (one round trip, not three) ends the loop when none is left.
        if processed and not _pending(tenant_id):
            return processed
        failed = None
        with transaction.atomic():
            taken = _oldest_taken(tenant_id)
            if taken is None:
                return processed
            pk, update_id, payload, traceparent = taken
            payload = json.loads(payload)  # Django's connections leave jsonb as text
            if bridge is not None:
                try:
                    with tracing.span("telegram update", parent=traceparent):
                        update_process(bridge=bridge, update=payload)
                except Exception:
                    # A poison update is logged and passed over, never retried forever:
                    # what it wrote rolls back, and it is marked processed afresh.
                    logger.exception("telegram update %s could not be processed", update_id)
                    failed = pk
                    transaction.set_rollback(True)
        if failed is not None:
            TelegramUpdate.objects.filter(pk=failed, processed_at__isnull=True).update(processed_at=timezone.now())
        processed += 1
    return processed
