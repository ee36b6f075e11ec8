from django.contrib import admin
from django.urls import include, path

from chatorical import health
from conversations import apis as conversation_apis
from widget_static import views as widget_views

urlpatterns = [
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("widget.js", widget_views.widget_v1, name="widget-v1"),
    path("v1/start", conversation_apis.v1_start, name="v1-start"),
    path("v1/conversations/<str:conversation_id>/messages", conversation_apis.v1_messages, name="v1-messages"),
    path("v1/conversations/<str:conversation_id>/rename", conversation_apis.v1_rename, name="v1-rename"),
    path("admin/", admin.site.urls),
    path("", include("django_prometheus.urls")),
]

handler404 = "chatorical.views.not_found"
handler500 = "chatorical.views.server_error"
