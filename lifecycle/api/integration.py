"""The data-lifecycle part of the /api/v2 API: erasure and export on request, the audit
log, and exports that stream."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from audit.models import AuditEntry
from chatorical.drf import PagePagination, TenantApiView, error_responses, validated
from conversations import selectors as conversation_selectors
from conversations import services as conversation_services
from conversations.api.integration import ERRORS
from lifecycle import selectors, services
from lifecycle.streaming import csv_lines, json_line, streaming_response
from tenants.models import ApiKey

Scope = ApiKey.Scope


class LifecycleApiView(TenantApiView):
    # `?format=` names the export's format here, not DRF's renderer: answers (and errors)
    # are always JSON, and streams set their own content type.
    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), JSONRenderer.media_type


# --- erasure and export on request --------------------------------------------------------


class ErasedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    erased = serializers.BooleanField()
    messages = serializers.IntegerField(help_text="How many messages were erased.")


class ConversationEraseApi(LifecycleApiView):
    """Erases the conversation now: its messages, its Telegram topic (through the outbox)
    and the conversation itself. Its id answers 404 from then on; an open widget socket
    is sent `conversation_closed` and closed."""

    required_scopes = {"POST": [Scope.CONVERSATIONS_ERASE]}

    @extend_schema(
        operation_id="conversations_erase",
        request=None,
        responses={200: ErasedSerializer, **error_responses(ERRORS, 404)},
    )
    def post(self, request, conversation_id):
        conversation = conversation_selectors.conversation_get_required(conversation_id=conversation_id)
        messages = conversation_services.conversation_erase(conversation=conversation)
        return Response({"id": conversation.pk, "erased": True, "messages": messages})


class ConversationDocumentApi(LifecycleApiView):
    """Everything stored about one conversation, as one JSON document: visitor name,
    locale, page URL, timestamps, agent names and every message."""

    required_scopes = {"GET": [Scope.EXPORTS_READ]}

    @extend_schema(
        operation_id="conversations_export", responses={200: OpenApiTypes.OBJECT, **error_responses(ERRORS, 404)}
    )
    def get(self, request, conversation_id):
        conversation = conversation_selectors.conversation_get_required(conversation_id=conversation_id)
        return Response(conversation_services.conversation_export(conversation=conversation))


# --- streaming exports ---------------------------------------------------------------------


class ExportStreamFilterSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["jsonl"], default="jsonl")


class ExportStreamApi(LifecycleApiView):
    """Every conversation of the tenant with its messages, streamed as JSON lines: a
    `{"type": "conversation", ...}` line, then a `{"type": "message", ...}` line for each
    of its messages, oldest conversation first. Constant memory however large the tenant."""

    required_scopes = {"GET": [Scope.EXPORTS_READ]}

    @extend_schema(
        operation_id="exports_stream",
        parameters=[ExportStreamFilterSerializer],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR, **error_responses(ERRORS, 400)},
    )
    def get(self, request):
        export_format = validated(ExportStreamFilterSerializer, request.query_params)["format"]
        tenant = request.auth.tenant
        services.export_audit(tenant=tenant, action="export.stream", export_format=export_format)
        return streaming_response(
            request,
            tenant=tenant,
            lines=selectors.export_lines,
            export_format=export_format,
            filename=f"{tenant.slug}-conversations.jsonl",
        )


# --- the audit log -------------------------------------------------------------------------


class AuditFilterSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="Entries at or after this time.")
    until = serializers.DateTimeField(required=False, help_text="Entries before this time.")
    actor_type = serializers.ChoiceField(choices=AuditEntry.ActorType.choices, required=False)
    actor_id = serializers.CharField(max_length=64, required=False)
    action = serializers.CharField(max_length=64, required=False)
    object_type = serializers.CharField(max_length=64, required=False)
    object_id = serializers.CharField(max_length=64, required=False)

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "Must be after `since`."})
        return attrs


class AuditExportFilterSerializer(AuditFilterSerializer):
    format = serializers.ChoiceField(choices=["jsonl", "csv"], default="jsonl")


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = selectors.AUDIT_FIELDS
        read_only_fields = fields


class AuditListApi(LifecycleApiView):
    """The tenant's audit log, oldest first, a page at a time."""

    required_scopes = {"GET": [Scope.AUDIT_READ]}
    pagination_class = PagePagination

    @extend_schema(
        operation_id="audit_list",
        parameters=[AuditFilterSerializer],
        responses={200: AuditEntrySerializer(many=True), **error_responses(ERRORS, 400, 404)},
    )
    def get(self, request):
        filters = validated(AuditFilterSerializer, request.query_params)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.audit_list(**filters), request, view=self)
        return paginator.get_paginated_response(AuditEntrySerializer(page, many=True).data)


class AuditExportApi(LifecycleApiView):
    """The tenant's audit log (filtered as the list is), streamed as JSON lines or CSV."""

    required_scopes = {"GET": [Scope.AUDIT_READ]}

    @extend_schema(
        operation_id="audit_export",
        parameters=[AuditExportFilterSerializer],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            **error_responses(ERRORS, 400),
        },
    )
    def get(self, request):
        filters = validated(AuditExportFilterSerializer, request.query_params)
        export_format = filters.pop("format")
        tenant = request.auth.tenant
        services.export_audit(
            tenant=tenant,
            action="audit.export",
            export_format=export_format,
            filters={name: str(value) for name, value in filters.items()},
        )

        def lines():
            rows = selectors.audit_rows(selectors.audit_list(**filters))
            if export_format == "csv":
                return csv_lines(selectors.AUDIT_FIELDS, rows)
            return map(json_line, rows)

        return streaming_response(
            request,
            tenant=tenant,
            lines=lines,
            export_format=export_format,
            filename=f"{tenant.slug}-audit.{export_format}",
        )
