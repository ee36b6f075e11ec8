"""Tenant texts in the /api/v2 integration API: templates (what visitors and agents are
sent) and UI strings (the widget's labels), with the same contract for both.

    templates/            GET list (?key=, ?locale=), POST create (409 if it exists)
    templates/<id>/       GET, PUT, PATCH, DELETE
    templates/preview/    POST: a stored text through the fallback chain, or a draft
    templates/catalog/    GET: the keys, their built-in English text and placeholders
    strings/, strings/<id>/, strings/catalog/   the same for UI strings

Reads need `templates:read`, writes `templates:write`. Thin views over the selectors and
services of templates_i18n.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from chatorical.drf import PagePagination, TenantApiView, error_responses, validated
from templates_i18n import selectors, services
from templates_i18n.catalog import CATALOGS, allowed_placeholders
from templates_i18n.serializers import (
    CatalogEntrySerializer,
    PreviewResultSerializer,
    PreviewSerializer,
    TextFilterSerializer,
    TextSerializer,
    TextWriteSerializer,
)
from tenants.models import ApiKey

Scope = ApiKey.Scope
READ = {"GET": [Scope.TEMPLATES_READ]}
READ_WRITE = {"GET": [Scope.TEMPLATES_READ], "POST": [Scope.TEMPLATES_WRITE]}

ERRORS = {
    400: "Invalid input: `unknown_key`, `invalid_locale`, `empty_text`, `text_too_long`, `invalid_text`, "
    "`invalid_template`, `invalid_placeholder`, `unknown_placeholder`, `unknown_variable` (preview), or "
    "`invalid` with `fields` for a missing or mistyped field.",
    401: "No, unknown or revoked API key.",
    403: "The key lacks the scope.",
    404: "No such text in this key's tenant, or no such page.",
    409: "The tenant has a text for this key and locale already (`duplicate`).",
}


class TextListApi(TenantApiView):
    """The tenant's own texts (not the built-in ones), by key and locale; filter by `key`
    and `locale`. POST adds one."""

    kind: str  # "template" or "ui", set by the subclasses below
    required_scopes = READ_WRITE
    pagination_class = PagePagination

    @extend_schema(
        parameters=[TextFilterSerializer],
        responses={200: TextSerializer(many=True), **error_responses(ERRORS, 400, 404)},
    )
    def get(self, request):
        filters = validated(TextFilterSerializer, request.query_params)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.text_list(kind=self.kind, **filters), request, view=self)
        return paginator.get_paginated_response(TextSerializer(page, many=True).data)

    @extend_schema(request=TextWriteSerializer, responses={201: TextSerializer, **error_responses(ERRORS, 400, 409)})
    def post(self, request):
        data = validated(TextWriteSerializer, request.data)
        row = services.text_create(tenant=request.auth.tenant, kind=self.kind, **data)
        return Response(TextSerializer(row).data, status=status.HTTP_201_CREATED)


class TextDetailApi(TenantApiView):
    """One of the tenant's texts. PUT replaces key, locale and text; PATCH changes what it
    names. Deleting it makes the fallback chain find the next text."""

    kind: str
    required_scopes = {
        "GET": [Scope.TEMPLATES_READ],
        "PUT": [Scope.TEMPLATES_WRITE],
        "PATCH": [Scope.TEMPLATES_WRITE],
        "DELETE": [Scope.TEMPLATES_WRITE],
    }

    def _row(self, text_id: int):
        return selectors.text_get_required(kind=self.kind, text_id=text_id)

    @extend_schema(responses={200: TextSerializer, **error_responses(ERRORS, 404)})
    def get(self, request, id):
        return Response(TextSerializer(self._row(id)).data)

    @extend_schema(
        request=TextWriteSerializer, responses={200: TextSerializer, **error_responses(ERRORS, 400, 404, 409)}
    )
    def put(self, request, id):
        row = self._row(id)
        data = validated(TextWriteSerializer, request.data)
        return Response(TextSerializer(services.text_update(row=row, **data)).data)

    @extend_schema(
        request=TextWriteSerializer(partial=True),
        responses={200: TextSerializer, **error_responses(ERRORS, 400, 404, 409)},
    )
    def patch(self, request, id):
        row = self._row(id)
        data = validated(TextWriteSerializer, request.data, partial=True)
        return Response(TextSerializer(services.text_update(row=row, **data)).data)

    @extend_schema(responses={204: None, **error_responses(ERRORS, 404)})
    def delete(self, request, id):
        services.text_delete(row=self._row(id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CatalogApi(TenantApiView):
    """Every key a tenant may word, with its built-in English text and the placeholders it
    allows (`tenant`, the tenant's name, is allowed everywhere)."""

    kind: str
    required_scopes = READ

    @extend_schema(responses={200: CatalogEntrySerializer(many=True), **error_responses(ERRORS)})
    def get(self, request):
        entries = [
            {"key": key, "text": entry.text, "placeholders": sorted(allowed_placeholders(self.kind, key))}
            for key, entry in CATALOGS[self.kind].items()
        ]
        return Response(CatalogEntrySerializer(entries, many=True).data)


class TemplateListApi(TextListApi):
    kind = "template"


class TemplateDetailApi(TextDetailApi):
    kind = "template"


class TemplateCatalogApi(CatalogApi):
    kind = "template"


class StringListApi(TextListApi):
    kind = "ui"


class StringDetailApi(TextDetailApi):
    kind = "ui"


class StringCatalogApi(CatalogApi):
    kind = "ui"


class TemplatePreviewApi(TenantApiView):
    """How a template reads for a visitor: the stored text the fallback chain finds for
    `locale` (which locale and step it was found by), or the unsaved draft `text`."""

    required_scopes = {"POST": [Scope.TEMPLATES_READ]}

    @extend_schema(request=PreviewSerializer, responses={200: PreviewResultSerializer, **error_responses(ERRORS, 400)})
    def post(self, request):
        data = validated(PreviewSerializer, request.data)
        preview = services.text_preview(tenant=request.auth.tenant, kind="template", **data)
        return Response(PreviewResultSerializer(preview).data)
