"""Routes of the data-lifecycle part of the /api/v2 API (included from chatorical/urls.py)."""

from django.urls import path

from lifecycle import apis

urlpatterns = [
    path(
        "conversations/<uuid:conversation_id>/erase",
        apis.ConversationEraseApi.as_view(),
        name="api-v2-conversation-erase",
    ),
    path(
        "conversations/<uuid:conversation_id>/export",
        apis.ConversationDocumentApi.as_view(),
        name="api-v2-conversation-export",
    ),
    path("exports/stream", apis.ExportStreamApi.as_view(), name="api-v2-exports-stream"),
    path("audit/", apis.AuditListApi.as_view(), name="api-v2-audit"),
    path("audit/export", apis.AuditExportApi.as_view(), name="api-v2-audit-export"),
]
