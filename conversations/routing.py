from django.urls import path

from conversations.consumers import V1ConversationConsumer

websocket_urlpatterns = [
    path("v1/ws", V1ConversationConsumer.as_asgi()),
]
