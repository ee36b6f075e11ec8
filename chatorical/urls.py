from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from billing import apis as billing_apis
from chatorical import health
from conversations import admin_v1, apis_widget_v2
from conversations import apis as conversation_apis
from telegram_bridge import apis as telegram_apis
from telegram_bridge.deep_health import deep_health
from templates_i18n import admin_v1 as templates_admin_v1
from widget_static import views as widget_views

urlpatterns = [
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("health/deep", deep_health, name="health-deep"),
    path("widget.js", widget_views.widget_v1, name="widget-v1"),
    path("widget/v2.js", widget_views.widget_v2, name="widget-v2"),
    path("v1/start", conversation_apis.v1_start, name="v1-start"),
    path("v1/conversations/<str:conversation_id>/messages", conversation_apis.v1_messages, name="v1-messages"),
    path("v1/conversations/<str:conversation_id>/rename", conversation_apis.v1_rename, name="v1-rename"),
    path("v1/telegram/webhook", telegram_apis.v1_webhook, name="v1-telegram-webhook"),
    path("v2/tenants/<slug:tenant_slug>/bootstrap", apis_widget_v2.bootstrap, name="v2-widget-bootstrap"),
    path(
        "v2/tenants/<slug:tenant_slug>/conversations",
        apis_widget_v2.conversation_create,
        name="v2-widget-conversations",
    ),
    path(
        "v2/tenants/<slug:tenant_slug>/conversations/<str:conversation_id>/token",
        apis_widget_v2.token_create,
        name="v2-widget-token",
    ),
    path("v2/telegram/webhook/<str:webhook_secret>", telegram_apis.v2_webhook, name="v2-telegram-webhook"),
    path("v1/admin/conversations", admin_v1.conversation_list, name="v1-admin-conversations"),
    path(
        "v1/admin/conversations/<str:conversation_id>/export",
        admin_v1.conversation_export,
        name="v1-admin-conversation-export",
    ),
    path("v1/admin/conversations/bulk-delete", admin_v1.bulk_delete, name="v1-admin-bulk-delete"),
    path("v1/admin/export", admin_v1.export, name="v1-admin-export"),
    path("v1/admin/templates", templates_admin_v1.templates, name="v1-admin-templates"),
    path(
        "v1/admin/templates/<int:template_id>",
        templates_admin_v1.template_delete,
        name="v1-admin-template",
    ),
    path("v2/billing/stripe/webhook", billing_apis.stripe_webhook, name="v2-billing-stripe-webhook"),
    path("api/v2/docs/", SpectacularSwaggerView.as_view(url_name="api-v2-schema"), name="api-v2-docs"),
    path(
        "api/v2/redoc/",
        SpectacularRedocView.as_view(url_name="api-v2-schema", template_name="api_docs/redoc.html"),
        name="api-v2-redoc",
    ),
    path("api/v2/", include("chatorical.urls_api")),
    path("api/v2/", include("lifecycle.urls_api")),
    path("admin/", admin.site.urls),
    path("metrics", health.metrics, name="metrics"),
]

if not settings.IS_PROD:
    urlpatterns.append(path("", include("devtools.urls")))

handler404 = "chatorical.views.not_found"
handler500 = "chatorical.views.server_error"
