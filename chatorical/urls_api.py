"""Routes of the /api/v2 integration API (included from chatorical/urls.py), but for the
data-lifecycle ones (lifecycle/urls_api.py)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from billing import apis as billing_apis
from conversations import apis_v2
from templates_i18n import urls_api as templates_urls

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-v2-schema"),
    path("conversations/", apis_v2.ConversationListApi.as_view(), name="api-v2-conversations"),
    path(
        "conversations/<uuid:conversation_id>/",
        apis_v2.ConversationDetailApi.as_view(),
        name="api-v2-conversation",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/",
        apis_v2.ConversationMessagesApi.as_view(),
        name="api-v2-conversation-messages",
    ),
    path(
        "conversations/<uuid:conversation_id>/close/",
        apis_v2.ConversationCloseApi.as_view(),
        name="api-v2-conversation-close",
    ),
    path("exports/", apis_v2.ExportListApi.as_view(), name="api-v2-exports"),
    path("exports/<uuid:conversation_id>/", apis_v2.ExportDetailApi.as_view(), name="api-v2-export"),
    path("usage/", billing_apis.UsageApi.as_view(), name="api-v2-usage"),
    *templates_urls.urlpatterns,
]
