"""Routes of the data-lifecycle part of the /api/v2 API (included from chatorical/urls.py)."""

from django.urls import path

from lifecycle.api import integration

urlpatterns = [
    path(
        "conversations/<uuid:conversation_id>/erase",
        integration.ConversationEraseApi.as_view(),
        name="api-v2-conversation-erase",
    ),
    path(
        "conversations/<uuid:conversation_id>/export",
        integration.ConversationDocumentApi.as_view(),
        name="api-v2-conversation-export",
    ),
    path("exports/stream", integration.ExportStreamApi.as_view(), name="api-v2-exports-stream"),
    path("audit/", integration.AuditListApi.as_view(), name="api-v2-audit"),
    path("audit/export", integration.AuditExportApi.as_view(), name="api-v2-audit-export"),
]
