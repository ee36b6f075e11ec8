"""WebSocket endpoints of the widget.

`/v1/ws` speaks exactly the v1 event shapes. `/v2/ws` (V2ConversationConsumer) shares all of
it and adds single-use tokens of any tenant, a required allowed Origin, and gap-free resume.
"""

import asyncio
import json
import logging
import re
import weakref
from collections.abc import Awaitable, Callable
from functools import partial
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import RedisError

from chatorical import plans, ratelimit, tracing
from chatorical.client_ip import scope_client_ip
from chatorical.errors import ApiError
from chatorical.logs import request_id_var
from chatorical.metrics import tenant_label
from chatorical.middleware import request_id_for
from chatorical.tenancy import run_for_tenant
from conversations import message_batches, metrics, realtime, selectors, services
from conversations.agent_channel import agents_offline
from conversations.models import Conversation, Message
from conversations.tokens import AUDIENCE_V1, AUDIENCE_V2, ConversationClaims, TokenRefused, token_decode, token_spend
from templates_i18n.selectors import template_text
from tenants.models import Tenant
from tenants.selectors import origin_allowed, tenant_get_active_by_id, tenant_get_default

logger = logging.getLogger(__name__)

RESUME_FIELDS = ("id", "ts", "seq")

# Closes a socket that keeps flooding, or that came too often; the widget reconnects after
# its backoff, as it does for any code that does not mean "token refused".
FLOOD_CLOSE_CODE = 4429
# Closes a socket beyond the open sockets allowed for its conversation or its address.
TOO_MANY_SOCKETS_CLOSE_CODE = 4409
# "Service restart": the channel layer lost Redis, so this socket could miss events; the
# widget reconnects and resumes from the database. 1012 itself cannot be sent: daphne
# (autobahn) lets a server close only with 1000 or 3000-4999, so 4000 + 1012.
SERVICE_RESTART_CLOSE_CODE = 4012

# A socket's frames are handled side by side, this many at most. Each waits for the
# limiter's round trip and then for its batch to be stored; the visitor's next frame, and
# the conversation's events to this socket, should not wait for that (README: Performance).
FRAMES_IN_FLIGHT = 8

# What a frame makes its socket do (send a note, publish its message), in frame order.
Reply = Callable[[], Awaitable[None]]

_frame_tasks: set[asyncio.Task] = set()  # held, so a frame in flight is not collected


class _Frame:
    """A frame's place in its socket's order. Its message is queued for the store only
    once the frame before has queued its own or will not (`queued`), and it acts only once
    the frame before is done (`done`): messages are stored, and replies sent, in the order
    the visitor sent the frames."""

    __slots__ = ("queued", "done")

    def __init__(self):
        loop = asyncio.get_running_loop()
        self.queued, self.done = loop.create_future(), loop.create_future()

    def settle_queued(self) -> None:
        if not self.queued.done():
            self.queued.set_result(None)

    def settle(self) -> None:
        self.settle_queued()
        if not self.done.done():
            self.done.set_result(None)


# One Tenant instance per tenant for the sockets of a process, while any holds it: an idle
# socket keeps ids and small values, not a copy of its tenant's row.
_tenants: weakref.WeakValueDictionary[int, Tenant] = weakref.WeakValueDictionary()


def _shared_tenant(tenant: Tenant) -> Tenant:
    """`tenant` as just read, or the instance other sockets already hold if it is the same
    row (every field equal): each socket still acts on the tenant as it was at its handshake."""
    held = _tenants.get(tenant.id)
    if held is not None and _field_values(held) == _field_values(tenant):
        return held
    _tenants[tenant.id] = tenant
    return tenant


def _field_values(instance) -> list:
    return [getattr(instance, field.attname) for field in instance._meta.concrete_fields]


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


class V1ConversationConsumer(AsyncJsonWebsocketConsumer):
    """One visitor socket of one conversation of the default tenant.

    Once accepted it keeps its conversation's id and locale, not the row: thousands of
    sockets sit idle in one process."""

    conversation_id = None  # set once accepted
    locale = ""
    token_audience = AUDIENCE_V1
    # Made at the socket's first frame, so an idle socket holds neither.
    _frame_slots: asyncio.Semaphore | None = None
    _last_frame: _Frame | None = None  # the newest frame in flight

    async def connect(self):
        # The socket's handlers all run in this task: its log lines carry the handshake's id.
        request_id_var.set(request_id_for(_header(self.scope, b"x-request-id")))
        with tracing.span("ws connect"):
            await self._connect()

    async def _connect(self):
        conversation = await self._authorize()
        if conversation is None:
            await self.close()
            return
        tracing.tenant_mark(self.tenant.slug)
        if not await self._connect_allowed() or not await self._slot_taken(conversation):
            return
        self.conversation_id, self.locale = conversation.id, conversation.locale
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.tenant_label = tenant_label(self.tenant.slug)
        metrics.OPEN_SOCKETS.labels(tenant=self.tenant_label).inc()
        await self._opening(conversation)

    @property
    def group(self) -> str:
        return realtime.conversation_group(self.conversation_id)

    def _conversation_ref(self) -> Conversation:
        """The conversation by its id, for calls that take one (the row is not read)."""
        conversation = Conversation(id=self.conversation_id, tenant_id=self.tenant.id)
        conversation._state.adding = False
        return conversation

    async def dispatch(self, message):
        # Channels' own dispatch first closes stale database connections by a hop to its
        # one sync thread, for every frame and every event: under load that hop serialised
        # all the sockets of a process. This consumer reaches the database only through
        # database_sync_to_async, which closes them in the thread that uses them, and
        # through the loop's own connections (chatorical/async_db.py), which need no closing.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code):
        if hasattr(self, "tenant_label"):  # accepted and counted as open
            metrics.OPEN_SOCKETS.labels(tenant=self.tenant_label).dec()
            metrics.SOCKET_CLOSES.labels(tenant=self.tenant_label, code=metrics.close_code_label(code)).inc()
        if self.conversation_id is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        await ratelimit.socket_slot_give_back(holder=self.channel_name)

    async def _authorize(self) -> Conversation | None:
        """The open conversation this handshake may join (setting `self.tenant`), or None."""
        if not self._origin_allowed():
            return None
        claims = self._token_claims()
        if claims is None:
            return None
        self.tenant = _shared_tenant(await database_sync_to_async(tenant_get_default)())
        if claims.tenant_id != self.tenant.id:
            logger.info("ws token of tenant %s refused on the v1 socket", claims.tenant_id)
            return None
        return await self._open_conversation(claims)

    def _origin_allowed(self) -> bool:
        allowed = settings.WIDGET_ALLOWED_ORIGINS
        return not allowed or _header(self.scope, b"origin") in allowed

    def _query(self, name: str) -> str:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        return (query.get(name) or [""])[0]

    def _token_claims(self) -> ConversationClaims | None:
        try:
            return token_decode(self._query("token"), audience=self.token_audience)
        except TokenRefused as exc:
            logger.info("ws token refused: %s", exc)
            return None

    async def _open_conversation(self, claims: ConversationClaims) -> Conversation | None:
        conversation = await run_for_tenant(
            self.tenant, selectors.conversation_get, conversation_id=claims.conversation_id
        )
        if conversation is None or conversation.is_closed:
            return None
        return conversation

    async def _opening(self, conversation: Conversation):
        """What a socket gets first, once accepted."""
        await self._note("welcome", variables={"visitor_name": conversation.visitor_name})
        if await run_for_tenant(self.tenant, agents_offline, tenant=self.tenant):
            await self._note("offline")

    async def _connect_allowed(self) -> bool:
        decision = await ratelimit.check_async(
            name="ws_connect", tenant=self.tenant, kind="ip", value=scope_client_ip(self.scope)
        )
        if decision.allowed:
            return True
        # Accepted only to say why: a widget refused at the handshake takes its token for
        # a bad one and forgets the conversation.
        await self.accept()
        await self._note(
            "connect_rate_limited", key="rate_limited", variables={"seconds": decision.retry_after_seconds}
        )
        await self.close(code=FLOOD_CLOSE_CODE)
        return False

    async def _slot_taken(self, conversation: Conversation) -> bool:
        full_kind = await ratelimit.socket_slot_take(
            tenant=self.tenant,
            holder=self.channel_name,
            values={"conversation": str(conversation.id), "ip": scope_client_ip(self.scope)},
        )
        if full_kind is None:
            return True
        # Accepted only to say why, as for _connect_allowed.
        await self.accept()
        await self._note("too_many_sockets")
        await self.close(code=TOO_MANY_SOCKETS_CLOSE_CODE)
        return False

    async def receive(self, text_data=None, bytes_data=None):
        # A socket accepted only to be told why it closes has no conversation; its frames go.
        if self.conversation_id is None:
            return
        if self._frame_slots is None:
            self._frame_slots = asyncio.Semaphore(FRAMES_IN_FLIGHT)
        # Beyond FRAMES_IN_FLIGHT the socket reads no further frame until one is done.
        await self._frame_slots.acquire()
        before, this = self._last_frame, _Frame()
        self._last_frame = this
        task = asyncio.get_running_loop().create_task(self._frame(text_data, before, this))
        _frame_tasks.add(task)
        task.add_done_callback(_frame_tasks.discard)

    async def _frame(self, text_data: str | None, before: _Frame | None, this: _Frame):
        try:
            with tracing.span("ws frame", tenant=self.tenant.slug):
                reply = await self._frame_reply(text_data, before, this)
                this.settle_queued()
                if before is not None:
                    await before.done
                await reply()
        except Exception:
            logger.exception("a socket frame failed; the socket closes")
            await self.close(code=SERVICE_RESTART_CLOSE_CODE)
        finally:
            this.settle()
            self._frame_slots.release()
            if self._last_frame is this:
                self._last_frame = None  # an idle socket holds no frame

    async def _frame_reply(self, text_data: str | None, before: _Frame | None, this: _Frame) -> Reply:
        """What the frame makes the socket do once the frames before it are done: checked
        and, for a message, stored, queued for the store after theirs."""
        refused = await self._frame_refused()
        if refused is not None:
            return refused
        if text_data is None:
            return partial(self._error, "error_binary_frame", "Send JSON text frames.")
        if len(text_data) > settings.WS_FRAME_MAX_CHARS:
            # Never parsed: it cannot hold a text we would accept.
            return partial(
                self._error, "text_too_long", f"A message is at most {settings.MESSAGE_MAX_CHARS} characters."
            )
        try:
            content = json.loads(text_data)
        except ValueError:
            return partial(self._error, "error_invalid_json", "That frame was not valid JSON.")
        if not isinstance(content, dict) or content.get("type") != "message":
            return partial(self._error, "error_unknown_frame", 'Send {"type": "message", "text": "..."}.')
        try:
            text = services.clean_message_text(content.get("text"))
            if not await plans.policy().visitor_message_allowed(self.tenant):
                # The plan's messages ran out (with their 10 % of slack): not stored.
                return partial(self._note, "plan_limit_reached")
            if before is not None:
                await before.queued
            stored = message_batches.message_add(
                tenant=self.tenant,
                message=services.NewMessage(
                    conversation=self._conversation_ref(),
                    direction=Message.Direction.INBOUND,
                    text=text,
                    traceparent=tracing.traceparent(),
                ),
            )
            this.settle_queued()
            message = await stored
        except ApiError as exc:
            return partial(self._error, f"error_{exc.code}", exc.message)
        except DatabaseError:
            logger.warning("message not stored: the database is away", exc_info=True)
            return partial(
                self._error, "error_unavailable", "That message could not be sent; send it again in a moment."
            )
        return partial(self._publish, message)

    async def _frame_refused(self) -> Reply | None:
        """Every frame counts, valid or not: a flood of junk costs us as much as one of messages."""
        decision = await ratelimit.check_async(
            name="ws_message", tenant=self.tenant, kind="socket", value=self.channel_name
        )
        if decision.allowed:
            return None
        if decision.unavailable:
            return partial(self._note, "limiter_unavailable")
        return partial(self._rate_limited, decision)

    async def _rate_limited(self, decision: ratelimit.Decision):
        await self._note("rate_limited", variables={"seconds": decision.retry_after_seconds})
        if decision.level >= ratelimit.ABUSE_LEVEL:
            await self.close(code=FLOOD_CLOSE_CODE)

    async def _publish(self, message: Message):
        # Stored and committed: now to every socket of the conversation, on every instance.
        try:
            await self.channel_layer.group_send(self.group, realtime.group_message(realtime.message_event(message)))
        except RedisError:
            # Stored, so sent to Telegram; the sockets get it when the layer is back.
            logger.warning("fan-out of message %s waits for the channel layer", message.id)

    async def _error(self, key: str, text: str):
        await self.send_json(realtime.info_note_event(text=text, key=key))

    async def _note(self, template: str, *, key: str = "", variables: dict | None = None):
        """An info note in the tenant's wording and the visitor's language."""
        text = await run_for_tenant(
            self.tenant, template_text, tenant_id=self.tenant.id, key=template, locale=self.locale, variables=variables
        )
        await self.send_json(realtime.info_note_event(text=text, key=key or template))

    async def conversation_event(self, message):
        with tracing.span("ws send", parent=message.get("traceparent", ""), tenant=self.tenant.slug):
            await self._send_event(message["event"])

    async def _send_event(self, event: dict):
        await self.send_json(self.shape(event))
        if event.get("type") == "conversation_closed":
            await self.close()

    async def channel_layer_resumed(self, message):
        """The layer was away, and events sent meanwhile missed this socket: a v1 widget
        fetches the history again when it reconnects."""
        await self.close(code=SERVICE_RESTART_CLOSE_CODE)

    async def channel_layer_lost(self, message):
        await self.close(code=SERVICE_RESTART_CLOSE_CODE)

    def shape(self, event: dict) -> dict:
        """v1 clients get the v1 shapes exactly: no resume fields."""
        return {key: value for key, value in event.items() if key not in RESUME_FIELDS}


class V2ConversationConsumer(V1ConversationConsumer):
    """One widget socket of any tenant's conversation: `/v2/ws?token=<token>&after_seq=<N>`.

    The token comes from the token endpoint and is spent at the handshake (single use).
    The page's Origin must be on the tenant's allowlist; browsers always send one on a
    WebSocket handshake, so a socket without it is refused.

    Resume: `after_seq` (default 0) is the seq of the newest message the widget has shown.
    Once accepted, the socket sends `agent_joined` if the conversation is claimed (the widget
    may have missed it), then every stored message with a greater seq, oldest first, then
    the welcome note, which so tells the widget it is caught up, then live events. Message
    events carry `id`, `ts` and `seq`.

    No gaps: the socket joins the conversation's group before it reads the backlog, so a
    message committed after that read is also broadcast to it. No duplicates: Channels
    dispatches a consumer's messages one at a time, so live events that arrive while
    connect() sends the backlog wait in the channel layer's queue (the buffer) until it
    returns; then every message event whose seq was already sent is dropped.
    """

    token_audience = AUDIENCE_V2
    last_seq = 0  # of the newest message sent with the backlog
    sent_seq = 0  # of the newest message sent at all: where a catch-up starts

    async def _authorize(self) -> Conversation | None:
        claims = self._token_claims()
        after_seq = self._after_seq()
        if claims is None or after_seq is None:
            return None
        tenant = await database_sync_to_async(tenant_get_active_by_id)(tenant_id=claims.tenant_id)
        if tenant is None:
            logger.info("ws token of an unknown or suspended tenant %s refused", claims.tenant_id)
            return None
        self.tenant = _shared_tenant(tenant)
        origin = _header(self.scope, b"origin")
        if not origin or not origin_allowed(tenant=self.tenant, origin=origin):
            logger.info("ws origin %r refused for tenant %s", origin[:100], self.tenant.slug)
            return None
        conversation = await self._open_conversation(claims)
        # Spent last: only a handshake that is otherwise accepted uses the token up.
        if conversation is None or not await token_spend(claims):
            return None
        self.last_seq = after_seq
        return conversation

    def _after_seq(self) -> int | None:
        value = self._query("after_seq") or "0"
        return int(value) if re.fullmatch(r"[0-9]{1,18}", value) else None

    async def _opening(self, conversation: Conversation):
        if conversation.claimed_by_id is not None:
            await self.send_json(realtime.agent_joined_event(agent=conversation.claimed_by_name))
        self.last_seq = await self._send_stored_after(conversation, self.last_seq)
        await super()._opening(conversation)

    async def _send_stored_after(self, conversation: Conversation, seq: int) -> int:
        """Sends the stored messages after `seq`, in pages so a long conversation is never
        all in memory at once; returns the seq of the last one sent."""
        while True:
            page = await run_for_tenant(
                self.tenant,
                selectors.message_list,
                conversation=conversation,
                after_seq=seq,
                limit=settings.BACKLOG_PAGE_SIZE,
            )
            for message in page:
                seq = self.sent_seq = message.seq
                await self.send_json(realtime.message_event(message))
            if len(page) < settings.BACKLOG_PAGE_SIZE:
                return seq

    async def channel_layer_resumed(self, message):
        """Catches up in place from the database on what the layer's outage swallowed."""
        conversation = await run_for_tenant(
            self.tenant, selectors.conversation_get, conversation_id=self.conversation_id
        )
        if conversation is None or conversation.is_closed:
            await self.send_json(realtime.conversation_closed_event())
            await self.close()
            return
        if conversation.claimed_by_id is not None:
            await self.send_json(realtime.agent_joined_event(agent=conversation.claimed_by_name))
        await self._send_stored_after(conversation, self.sent_seq)

    async def conversation_event(self, message):
        # Only the backlog is compared against: live events of one conversation come from
        # several senders and may cross (seq 8 before 7); the widget resyncs on a gap.
        seq = message["event"].get("seq")
        if seq is not None and seq <= self.last_seq:
            return  # already sent with the backlog
        if seq is not None:
            self.sent_seq = max(self.sent_seq, seq)
        await super().conversation_event(message)

    def shape(self, event: dict) -> dict:
        return event
