"""The v1 admin endpoints of the default tenant, behind `Authorization: Bearer $SERVICE_TOKEN`.

Listing, exporting and bulk-deleting conversations; shapes are those of the /api/v2 API
(conversations/serializers.py).
"""

import uuid

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from chatorical.errors import ApiError
from chatorical.http import allow_methods, json_body, service_token_required
from chatorical.middleware import default_tenant_view
from conversations import selectors, services
from conversations.models import Conversation
from conversations.serializers import ConversationExportSerializer, ConversationSerializer

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 1_000_000
MAX_BULK_DELETE = 1000


def _bounded_int(request, name: str, *, default: int, maximum: int) -> int:
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(400, f"invalid_{name}", f"`{name}` must be a whole number from 1 to {maximum}.")
    return int(raw)


def _status_filter(request) -> str:
    status = request.GET.get("status", "")
    if status and status not in Conversation.Status.values:
        raise ApiError(400, "invalid_status", f"`status` must be one of {', '.join(Conversation.Status.values)}.")
    return status


def _page(request, queryset, serializer_class) -> dict:
    page = _bounded_int(request, "page", default=1, maximum=MAX_PAGE)
    page_size = _bounded_int(request, "page_size", default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
    total = queryset.count()
    rows = queryset[(page - 1) * page_size : page * page_size]
    return {
        "conversations": serializer_class(rows, many=True).data,
        "page": page,
        "page_size": page_size,
        "total": total,
        "has_next": page * page_size < total,
    }


@allow_methods("GET")
@service_token_required
@default_tenant_view
def conversation_list(request):
    conversations = selectors.conversation_list(status=_status_filter(request))
    return JsonResponse(_page(request, conversations, ConversationSerializer))


@allow_methods("GET")
@service_token_required
@default_tenant_view
def conversation_export(request, conversation_id):
    conversation = selectors.conversation_get_required(conversation_id=conversation_id)
    return JsonResponse({"conversation": ConversationExportSerializer(conversation).data})


@allow_methods("GET")
@service_token_required
@default_tenant_view
def export(request):
    conversations = selectors.conversation_export_list(status=_status_filter(request))
    return JsonResponse(_page(request, conversations, ConversationExportSerializer))


@csrf_exempt
@allow_methods("POST")
@service_token_required
@default_tenant_view
def bulk_delete(request):
    ids = json_body(request).get("ids")
    if not isinstance(ids, list) or not ids or len(ids) > MAX_BULK_DELETE:
        raise ApiError(400, "invalid_ids", f"`ids` must be a list of 1 to {MAX_BULK_DELETE} conversation ids.")
    wanted = {}
    for raw_id in ids:
        try:
            wanted[uuid.UUID(str(raw_id))] = raw_id
        except ValueError:
            raise ApiError(400, "invalid_ids", f"`{raw_id}` is not a conversation id.") from None
    deleted = {conversation.pk for conversation in services.conversations_delete(conversation_ids=list(wanted))}
    return JsonResponse(
        {
            "deleted": [str(pk) for pk in wanted if pk in deleted],
            "not_found": [str(pk) for pk in wanted if pk not in deleted],
        }
    )
