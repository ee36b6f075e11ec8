"""WebSocket endpoints of the widget. `/v1/ws` speaks exactly the v1 event shapes."""

import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from chatorical import ratelimit
from chatorical.client_ip import scope_client_ip
from chatorical.errors import ApiError
from chatorical.tenancy import run_for_tenant
from conversations import realtime, selectors, services
from conversations.models import Conversation, Message
from conversations.tokens import TokenRefused, token_decode
from templates_i18n.selectors import template_text
from tenants.selectors import tenant_get_default

logger = logging.getLogger(__name__)

RESUME_FIELDS = ("id", "ts", "seq")

# Closes a socket that keeps flooding, or that came too often; the widget reconnects after
# its backoff, as it does for any code that does not mean "token refused".
FLOOD_CLOSE_CODE = 4429


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


class V1ConversationConsumer(AsyncJsonWebsocketConsumer):
    """One visitor socket of one conversation of the default tenant."""

    conversation: Conversation

    async def connect(self):
        if not self._origin_allowed():
            await self.close()
            return
        conversation = await self._conversation_for_token()
        if conversation is None:
            await self.close()
            return
        if not await self._connect_allowed():
            return
        self.conversation = conversation
        self.group = realtime.conversation_group(conversation.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._note("welcome", variables={"visitor_name": conversation.visitor_name})

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    def _origin_allowed(self) -> bool:
        allowed = settings.WIDGET_ALLOWED_ORIGINS
        return not allowed or _header(self.scope, b"origin") in allowed

    async def _conversation_for_token(self) -> Conversation | None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("token") or [""])[0]
        try:
            claims = token_decode(token)
        except TokenRefused as exc:
            logger.info("ws token refused: %s", exc)
            return None
        tenant = self.tenant = await self._tenant()
        if claims.tenant_id != tenant.id:
            logger.info("ws token of tenant %s refused on the v1 socket", claims.tenant_id)
            return None
        conversation = await run_for_tenant(
            tenant, selectors.conversation_get, conversation_id=claims.conversation_id
        )
        if conversation is None or conversation.is_closed:
            return None
        return conversation

    async def _tenant(self):
        return await database_sync_to_async(tenant_get_default)()

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

    async def _frame_allowed(self) -> bool:
        """Every frame counts, valid or not: a flood of junk costs us as much as one of messages."""
        decision = await ratelimit.check_async(
            name="ws_message", tenant=self.tenant, kind="socket", value=self.channel_name
        )
        if decision.allowed:
            return True
        if decision.unavailable:
            await self._note("limiter_unavailable")
            return False
        await self._note("rate_limited", variables={"seconds": decision.retry_after_seconds})
        if decision.level >= ratelimit.ABUSE_LEVEL:
            await self.close(code=FLOOD_CLOSE_CODE)
        return False

    async def receive(self, text_data=None, bytes_data=None):
        # A socket accepted only to be told why it closes has no conversation; its frames go.
        if not hasattr(self, "conversation") or not await self._frame_allowed():
            return
        if text_data is None:
            await self._error("error_binary_frame", "Send JSON text frames.")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._error("error_invalid_json", "That frame was not valid JSON.")
            return
        await self.receive_json(frame)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or content.get("type") != "message":
            await self._error("error_unknown_frame", "Send {\"type\": \"message\", \"text\": \"...\"}.")
            return
        try:
            await run_for_tenant(
                self.tenant,
                services.message_add,
                conversation=self.conversation,
                direction=Message.Direction.INBOUND,
                text=content.get("text"),
            )
        except ApiError as exc:
            await self._error(f"error_{exc.code}", exc.message)

    async def _error(self, key: str, text: str):
        await self.send_json(realtime.info_note_event(text=text, key=key))

    async def _note(self, template: str, *, key: str = "", variables: dict | None = None):
        """An info note in the tenant's wording and the visitor's language."""
        locale = self.conversation.locale if hasattr(self, "conversation") else ""
        text = await run_for_tenant(
            self.tenant, template_text, tenant_id=self.tenant.id, key=template, locale=locale, variables=variables
        )
        await self.send_json(realtime.info_note_event(text=text, key=key or template))

    async def conversation_event(self, message):
        event = message["event"]
        await self.send_json(self.shape(event))
        if event.get("type") == "conversation_closed":
            await self.close()

    def shape(self, event: dict) -> dict:
        """v1 clients get the v1 shapes exactly: no resume fields."""
        return {key: value for key, value in event.items() if key not in RESUME_FIELDS}
