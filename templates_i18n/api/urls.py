"""Routes of tenant texts in the /api/v2 integration API (put together in
chatorical/urls_api.py)."""

from django.urls import path

from templates_i18n.api import integration

urlpatterns = [
    path("templates/", integration.TemplateListApi.as_view(), name="api-v2-templates"),
    path("templates/<int:id>/", integration.TemplateDetailApi.as_view(), name="api-v2-template"),
    path("templates/preview/", integration.TemplatePreviewApi.as_view(), name="api-v2-template-preview"),
    path("templates/catalog/", integration.TemplateCatalogApi.as_view(), name="api-v2-template-catalog"),
    path("strings/", integration.StringListApi.as_view(), name="api-v2-strings"),
    path("strings/<int:id>/", integration.StringDetailApi.as_view(), name="api-v2-string"),
    path("strings/catalog/", integration.StringCatalogApi.as_view(), name="api-v2-string-catalog"),
]
