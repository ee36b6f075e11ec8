"""The /api/v2 integration API: its schema and the routes of conversations, billing and
tenant texts (each app's `api/urls.py`), included from chatorical/urls.py beside the
data-lifecycle ones (lifecycle/api/urls.py)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from billing.api import urls as billing_urls
from conversations.api import urls as conversations_urls
from templates_i18n.api import urls as templates_urls

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-v2-schema"),
    *conversations_urls.urlpatterns,
    *billing_urls.urlpatterns,
    *templates_urls.urlpatterns,
]
