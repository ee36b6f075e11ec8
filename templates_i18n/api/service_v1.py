"""The v1 admin endpoints of the default tenant's templates, behind
`Authorization: Bearer $SERVICE_TOKEN` (as conversations/api/service_v1.py):

    GET    /v1/admin/templates          {templates: [{id, key, locale, text, updated_at}]}; ?key=, ?locale=
    POST   /v1/admin/templates          {key, locale, text}: creates or replaces -> {template: {...}}
    DELETE /v1/admin/templates/<id>     204

Shapes are those of the /api/v2 templates (templates_i18n/serializers.py).
"""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from chatorical.http import allow_methods, json_body, service_token_required
from chatorical.middleware import default_tenant_view
from templates_i18n import selectors, services
from templates_i18n.serializers import TextSerializer


@csrf_exempt
@allow_methods("GET", "POST")
@service_token_required
@default_tenant_view
def templates(request):
    if request.method == "GET":
        rows = selectors.text_list(
            kind="template", key=request.GET.get("key", ""), locale=request.GET.get("locale", "")
        )
        return JsonResponse({"templates": TextSerializer(rows, many=True).data})
    body = json_body(request)
    row = services.text_set(
        tenant=request.tenant,
        kind="template",
        key=body.get("key"),
        locale=body.get("locale"),
        text=body.get("text"),
    )
    return JsonResponse({"template": TextSerializer(row).data})


@csrf_exempt
@allow_methods("DELETE")
@service_token_required
@default_tenant_view
def template_delete(request, template_id):
    row = selectors.text_get_required(kind="template", text_id=template_id)
    services.text_delete(row=row)
    return HttpResponse(status=204)
