"""Routes of tenant texts in the /api/v2 API (part of chatorical/urls_api.py)."""

from django.urls import path

from templates_i18n import apis

urlpatterns = [
    path("templates/", apis.TemplateListApi.as_view(), name="api-v2-templates"),
    path("templates/<int:id>/", apis.TemplateDetailApi.as_view(), name="api-v2-template"),
    path("templates/preview/", apis.TemplatePreviewApi.as_view(), name="api-v2-template-preview"),
    path("templates/catalog/", apis.TemplateCatalogApi.as_view(), name="api-v2-template-catalog"),
    path("strings/", apis.StringListApi.as_view(), name="api-v2-strings"),
    path("strings/<int:id>/", apis.StringDetailApi.as_view(), name="api-v2-string"),
    path("strings/catalog/", apis.StringCatalogApi.as_view(), name="api-v2-string-catalog"),
]
