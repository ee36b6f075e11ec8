"""Conversations in the Django admin, scoped to the staff user's tenant. Changes go
through conversations.services, so their events and fan-out happen as anywhere else."""

import functools

from django import forms
from django.contrib import admin, messages
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from chatorical.admin_forms import refusal_as_form_error
from conversations import admin_report, selectors, services
from conversations.models import Conversation, Message, OutboxEvent
from tenants.admin_scoping import EVERYONE, NOBODY, OWNERS, Role, TenantScopedAdminMixin

AGENTS = frozenset({Role.OWNER, Role.AGENT})
# The conversation page shows its latest messages; the message list pages through the rest.
TRANSCRIPT_PAGE_SIZE = 100


class ConversationForm(forms.ModelForm):
    class Meta:
        model = Conversation
        fields = ["visitor_name", "note"]

    def clean_visitor_name(self):
        with refusal_as_form_error():
            name = services.clean_visitor_name(self.cleaned_data["visitor_name"])
        if "visitor_name" in self.changed_data and self.instance.is_closed:
            raise forms.ValidationError("A closed conversation keeps its name.")
        return name

    def clean_note(self):
        note = self.cleaned_data["note"]
        if "note" in self.changed_data and not note.strip():
            raise forms.ValidationError("A note can be replaced but not emptied.")
        return note


@admin.register(Conversation)
class ConversationAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    view_roles = EVERYONE
    change_roles = AGENTS
    delete_roles = OWNERS
    form = ConversationForm
    list_display = ["id", "visitor_name", "status", "claimed_by_name", "locale", "updated_at"]
    list_filter = ["status"]
    search_fields = ["visitor_name"]
    ordering = ["-updated_at"]
    fields = [
        "id",
        "visitor_name",
        "note",
        "status",
        "locale",
        "page_url",
        "claimed_by_name",
        "created_at",
        "updated_at",
        "closed_at",
        "transcript",
    ]
    readonly_fields = [field for field in fields if field not in ("visitor_name", "note")]
    # Erasure and export on request (lifecycle/): the same as the API's, for owners.
    actions = ["close", "erase", "export"]

    def get_urls(self):
        report = functools.partial(admin_report.report_view, model_admin=self)
        return [
            path("report/", self.admin_site.admin_view(report), name="conversations_conversation_report"),
            *super().get_urls(),
        ]

    def save_model(self, request, obj, form, change):
        if "visitor_name" in form.changed_data:
            services.conversation_rename(conversation=obj, visitor_name=obj.visitor_name)
        if "note" in form.changed_data:
            services.conversation_note(conversation=obj, note=obj.note)

    def delete_model(self, request, obj):
        services.conversations_delete(conversation_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        services.conversations_delete(conversation_ids=list(queryset.values_list("pk", flat=True)))

    @admin.display(description="messages")
    def transcript(self, conversation):
        # Shown read-only: a message reached the visitor and the agents as it was written.
        # The latest page only; all of them page by page in the message list.
        latest = selectors.message_list_latest(conversation=conversation, limit=TRANSCRIPT_PAGE_SIZE)
        lines = format_html_join(
            mark_safe("<br>"),
            "#{} {} {}: {}",
            (
                (m.seq, m.created_at.strftime("%Y-%m-%d %H:%M"), m.agent_name or m.get_direction_display(), m.text)
                for m in latest
            ),
        )
        if len(latest) < TRANSCRIPT_PAGE_SIZE:
            return lines
        messages_list = reverse("admin:conversations_message_changelist")
        every_message = f"{messages_list}?conversation__id__exact={conversation.pk}"
        return format_html('<a href="{}">Earlier messages, page by page</a><br>{}', every_message, lines)

    @admin.action(description="Close the selected conversations", permissions=["change"])
    def close(self, request, queryset):
        for conversation in queryset:
            services.conversation_close(conversation=conversation)
        messages.success(request, "Closed.")

    def has_export_permission(self, request):
        return self._role(request) in OWNERS

    @admin.action(description="Erase the selected conversations now (with messages and topics)", permissions=["delete"])
    def erase(self, request, queryset):
        for conversation in queryset:
            services.conversation_erase(conversation=conversation)
        messages.success(request, "Erased.")

    @admin.action(description="Export everything stored about the selected conversations", permissions=["export"])
    def export(self, request, queryset):
        conversations = queryset.order_by("created_at")
        documents = [services.conversation_export(conversation=conversation) for conversation in conversations]
        response = JsonResponse({"conversations": documents}, json_dumps_params={"ensure_ascii": False})
        response["Content-Disposition"] = 'attachment; filename="conversations-export.json"'
        return response


@admin.register(Message)
class MessageAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Read-only: a message reached the visitor and the agents as it was written."""

    change_roles = NOBODY
    list_display = ["conversation", "seq", "direction", "agent_name", "text_start", "created_at"]
    list_filter = ["direction"]
    search_fields = ["text"]
    list_select_related = ["conversation"]

    @admin.display(description="text")
    def text_start(self, message):
        return message.text[:80]


@admin.register(OutboxEvent)
class OutboxEventAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Read-only: what the workers still have to do, did, or gave up on (`dead`)."""

    change_roles = NOBODY
    list_display = [
        "id",
        "kind",
        "conversation",
        "status",
        "attempts",
        "last_error_start",
        "available_at",
        "created_at",
    ]
    list_filter = ["status", "kind"]
    ordering = ["-id"]

    @admin.display(description="last error")
    def last_error_start(self, event):
        return event.last_error[:120]
