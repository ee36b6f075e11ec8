"""Development pages (included from chatorical/urls.py when DJANGO_ENV is not prod)."""

from django.urls import path

from devtools.api import pages

urlpatterns = [
    path("", pages.front_page, name="dev-front-page"),
    path("dev/demo/<str:version>/", pages.demo_page, name="dev-demo-page"),
    path("dev/support-group/", pages.support_group, name="dev-support-group"),
    path("dev/support-group/api/<str:action>", pages.support_group_api, name="dev-support-group-api"),
]
