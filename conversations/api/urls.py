"""The conversations' routes in the /api/v2 integration API (put together in
chatorical/urls_api.py)."""

from django.urls import path

from conversations.api import integration

urlpatterns = [
    path("conversations/", integration.ConversationListApi.as_view(), name="api-v2-conversations"),
    path(
        "conversations/<uuid:conversation_id>/",
        integration.ConversationDetailApi.as_view(),
        name="api-v2-conversation",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/",
        integration.ConversationMessagesApi.as_view(),
        name="api-v2-conversation-messages",
    ),
    path(
        "conversations/<uuid:conversation_id>/close/",
        integration.ConversationCloseApi.as_view(),
        name="api-v2-conversation-close",
    ),
    path("exports/", integration.ExportListApi.as_view(), name="api-v2-exports"),
    path("exports/<uuid:conversation_id>/", integration.ExportDetailApi.as_view(), name="api-v2-export"),
]
