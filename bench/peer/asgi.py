"""The peer's ASGI application: `daphne bench.peer.asgi:application` (DJANGO_SETTINGS_MODULE
bench.peer.settings). HTTP answers 200 to anything, for the bench's readiness check."""

import django

django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class GroupChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.group = self.scope["url_route"]["kwargs"]["group"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "text": content["text"]})

    async def chat_message(self, event):
        await self.send_json({"direction": "INBOUND", "text": event["text"]})


async def answer_ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


application = ProtocolTypeRouter(
    {"http": answer_ok, "websocket": URLRouter([path("ws/<str:group>", GroupChatConsumer.as_asgi())])}
)
