"""The /api/v2 integration API: API keys with scopes, acting for the key's tenant.

Thin views over conversations.selectors and conversations.services; the OpenAPI schema
(/api/v2/schema/) is generated from the serializers and `extend_schema` below.
"""

import logging

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from chatorical.drf import PagePagination, StrictCharField, TenantApiView, error_responses, validated
from conversations import selectors, services
from conversations.models import Conversation
from conversations.serializers import ConversationExportSerializer, ConversationSerializer, MessageSerializer
from tenants.models import ApiKey

logger = logging.getLogger(__name__)

Scope = ApiKey.Scope
BIGINT_MAX = 2**63 - 1


# --- serializers -------------------------------------------------------------------------


class ConversationFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Conversation.Status.choices, required=False)


class MessageListFilterSerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    next_after_seq = serializers.IntegerField(
        allow_null=True, help_text="Pass as `after_seq` for the next page; null on the last page."
    )


class MessageCreateSerializer(serializers.Serializer):
    text = StrictCharField(max_length=settings.MESSAGE_MAX_CHARS, trim_whitespace=False)


ERRORS = {
    400: "Invalid input.",
    401: "No, unknown or revoked API key.",
    403: "The key lacks the scope.",
    404: "No such conversation in this key's tenant, or no such page.",
    409: "The conversation is closed.",
}


class ExportPagination(PagePagination):
    page_size = 20
    max_page_size = 100


# --- views -------------------------------------------------------------------------------


class ConversationListApi(TenantApiView):
    """The tenant's conversations, most recently active first; filter by `status`."""

    required_scopes = {"GET": [Scope.CONVERSATIONS_READ]}
    pagination_class = PagePagination

    @extend_schema(
        operation_id="conversations_list",
        parameters=[ConversationFilterSerializer],
        responses={200: ConversationSerializer(many=True), **error_responses(ERRORS, 400, 404)},
    )
    def get(self, request):
        filters = validated(ConversationFilterSerializer, request.query_params)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.conversation_list(**filters), request, view=self)
        return paginator.get_paginated_response(ConversationSerializer(page, many=True).data)


class ConversationDetailApi(TenantApiView):
    """One conversation."""

    required_scopes = {"GET": [Scope.CONVERSATIONS_READ]}

    @extend_schema(
        operation_id="conversations_retrieve", responses={200: ConversationSerializer, **error_responses(ERRORS, 404)}
    )
    def get(self, request, conversation_id):
        return Response(
            ConversationSerializer(selectors.conversation_get_required(conversation_id=conversation_id)).data
        )


class ConversationMessagesApi(TenantApiView):
    """A conversation's messages by `seq`; POST sends an agent message as the integration."""

    required_scopes = {"GET": [Scope.CONVERSATIONS_READ], "POST": [Scope.CONVERSATIONS_WRITE]}

    @extend_schema(
        operation_id="conversations_messages_list",
        parameters=[MessageListFilterSerializer],
        responses={200: MessagePageSerializer, **error_responses(ERRORS, 400, 404)},
    )
    def get(self, request, conversation_id):
        conversation = selectors.conversation_get_required(conversation_id=conversation_id)
        filters = validated(MessageListFilterSerializer, request.query_params)
        messages = selectors.message_list(
            conversation=conversation, after_seq=filters["after_seq"], limit=filters["limit"] + 1
        )
        has_more = len(messages) > filters["limit"]
        messages = messages[: filters["limit"]]
        return Response(
            {
                "results": MessageSerializer(messages, many=True).data,
                "next_after_seq": messages[-1].seq if has_more else None,
            }
        )

    @extend_schema(
        operation_id="conversations_messages_create",
        request=MessageCreateSerializer,
        responses={201: MessageSerializer, **error_responses(ERRORS, 400, 404, 409)},
        description="Sends an agent message to the visitor, as the integration (agent name = the key's name).",
    )
    def post(self, request, conversation_id):
        conversation = selectors.conversation_get_required(conversation_id=conversation_id)
        data = validated(MessageCreateSerializer, request.data)
        message = services.integration_message_add(
            conversation=conversation, text=data["text"], agent_name=request.auth.name
        )
        logger.info("API key %s sent message %s to conversation %s", request.auth.prefix, message.seq, conversation.id)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class ConversationCloseApi(TenantApiView):
    """Closes the conversation (the widget is told; closing twice is harmless)."""

    required_scopes = {"POST": [Scope.CONVERSATIONS_WRITE]}

    @extend_schema(
        operation_id="conversations_close",
        request=None,
        responses={200: ConversationSerializer, **error_responses(ERRORS, 404)},
    )
    def post(self, request, conversation_id):
        conversation = services.conversation_close(
            conversation=selectors.conversation_get_required(conversation_id=conversation_id)
        )
        return Response(ConversationSerializer(conversation).data)


class ExportListApi(TenantApiView):
    """Every conversation with its messages, oldest first, a page at a time."""

    required_scopes = {"GET": [Scope.EXPORTS_READ]}
    pagination_class = ExportPagination

    @extend_schema(
        operation_id="exports_list",
        parameters=[ConversationFilterSerializer],
        responses={200: ConversationExportSerializer(many=True), **error_responses(ERRORS, 400, 404)},
    )
    def get(self, request):
        filters = validated(ConversationFilterSerializer, request.query_params)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.conversation_export_list(**filters), request, view=self)
        return paginator.get_paginated_response(ConversationExportSerializer(page, many=True).data)


class ExportDetailApi(TenantApiView):
    """One conversation with its messages."""

    required_scopes = {"GET": [Scope.EXPORTS_READ]}

    @extend_schema(
        operation_id="exports_retrieve", responses={200: ConversationExportSerializer, **error_responses(ERRORS, 404)}
    )
    def get(self, request, conversation_id):
        conversation = selectors.conversation_get_required(conversation_id=conversation_id)
        return Response(ConversationExportSerializer(conversation).data)
