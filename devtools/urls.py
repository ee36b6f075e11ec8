"""Development pages (included from chatorical/urls.py when DJANGO_ENV is not prod)."""

from django.urls import path

from devtools import views

urlpatterns = [
    path("", views.front_page, name="dev-front-page"),
    path("dev/demo/<str:version>/", views.demo_page, name="dev-demo-page"),
    path("dev/support-group/", views.support_group, name="dev-support-group"),
    path("dev/support-group/api/<str:action>", views.support_group_api, name="dev-support-group-api"),
]
