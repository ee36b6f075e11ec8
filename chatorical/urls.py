from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from billing.api import stripe_webhook
from chatorical import health
from conversations.api import service_v1, widget_v1, widget_v2
from telegram_bridge.api import deep_health, webhook
from templates_i18n.api import service_v1 as templates_service_v1
from widget_static import views as widget_views

urlpatterns = [
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("health/deep", deep_health.deep_health, name="health-deep"),
    path("widget.js", widget_views.widget_v1, name="widget-v1"),
    path("widget/v2.js", widget_views.widget_v2, name="widget-v2"),
    path("v1/start", widget_v1.v1_start, name="v1-start"),
    path("v1/conversations/<str:conversation_id>/messages", widget_v1.v1_messages, name="v1-messages"),
    path("v1/conversations/<str:conversation_id>/rename", widget_v1.v1_rename, name="v1-rename"),
    path("v1/telegram/webhook", webhook.v1_webhook, name="v1-telegram-webhook"),
    path("v2/tenants/<slug:tenant_slug>/bootstrap", widget_v2.bootstrap, name="v2-widget-bootstrap"),
    path(
        "v2/tenants/<slug:tenant_slug>/conversations",
        widget_v2.conversation_create,
        name="v2-widget-conversations",
    ),
    path(
        "v2/tenants/<slug:tenant_slug>/conversations/<str:conversation_id>/token",
        widget_v2.token_create,
        name="v2-widget-token",
    ),
    path("v2/telegram/webhook/<str:webhook_secret>", webhook.v2_webhook, name="v2-telegram-webhook"),
    path("v1/admin/conversations", service_v1.conversation_list, name="v1-admin-conversations"),
    path(
        "v1/admin/conversations/<str:conversation_id>/export",
        service_v1.conversation_export,
        name="v1-admin-conversation-export",
    ),
    path("v1/admin/conversations/bulk-delete", service_v1.bulk_delete, name="v1-admin-bulk-delete"),
    path("v1/admin/export", service_v1.export, name="v1-admin-export"),
    path("v1/admin/templates", templates_service_v1.templates, name="v1-admin-templates"),
    path(
        "v1/admin/templates/<int:template_id>",
        templates_service_v1.template_delete,
        name="v1-admin-template",
    ),
    path("v2/billing/stripe/webhook", stripe_webhook.stripe_webhook, name="v2-billing-stripe-webhook"),
    path("api/v2/docs/", SpectacularSwaggerView.as_view(url_name="api-v2-schema"), name="api-v2-docs"),
    path(
        "api/v2/redoc/",
        SpectacularRedocView.as_view(url_name="api-v2-schema", template_name="api_docs/redoc.html"),
        name="api-v2-redoc",
    ),
    path("api/v2/", include("chatorical.urls_api")),
    path("api/v2/", include("lifecycle.api.urls")),
    path("admin/", admin.site.urls),
    path("metrics", health.metrics, name="metrics"),
]

if not settings.IS_PROD:
    urlpatterns.append(path("", include("devtools.api.urls")))

handler404 = "chatorical.views.not_found"
handler500 = "chatorical.views.server_error"
