"""Billing's route in the /api/v2 integration API (put together in chatorical/urls_api.py)."""

from django.urls import path

from billing.api import integration

urlpatterns = [
    path("usage/", integration.UsageApi.as_view(), name="api-v2-usage"),
]
