from django.urls import path

from conversations.consumers import V1ConversationConsumer, V2ConversationConsumer

websocket_urlpatterns = [
    path("v1/ws", V1ConversationConsumer.as_asgi()),
    path("v2/ws", V2ConversationConsumer.as_asgi()),
]
