"""Templates and UI strings in the Django admin, scoped to the staff user's tenant.

Every check and write goes through templates_i18n.services, so a text saved here is valid
by the same rules as one saved through the API, and every process sees it at once.
"""

from django import forms
from django.contrib import admin
from django.template.defaultfilters import linebreaksbr

from chatorical.errors import ApiError
from templates_i18n import services
from templates_i18n.catalog import CATALOGS, SAMPLE_VALUES, allowed_placeholders
from templates_i18n.models import MessageTemplate, UiString
from tenants.admin_scoping import EVERYONE, OWNERS, TenantScopedAdminMixin

# Which form field an error of the services is about; others are about the text.
_ERROR_FIELDS = {"unknown_key": "key", "invalid_locale": "locale", "duplicate": None}


def _key_choices(kind: str) -> list[tuple[str, str]]:
    return [(key, key) for key in sorted(CATALOGS[kind])]


class TextForm(forms.ModelForm):
    kind: str  # set by the subclasses
    # Set by TextAdmin.get_form: the tenant a member's new text is for.
    member_tenant = None

    # Kept as typed: trailing spaces and line breaks are part of a text.
    text = forms.CharField(widget=forms.Textarea, strip=False)

    class Meta:
        fields = ["tenant", "key", "locale", "text"]

    def clean(self):
        cleaned = super().clean()
        tenant_id = (
            self.instance.tenant_id
            if self.instance.pk
            else getattr(cleaned.get("tenant") or self.member_tenant, "id", None)
        )
        if self.errors or tenant_id is None:
            return cleaned
        try:
            cleaned["locale"] = services.text_validate(
                kind=self.kind, key=cleaned["key"], locale=cleaned["locale"], text=cleaned["text"]
            )
            services.text_check_unique(
                tenant_id=tenant_id,
                kind=self.kind,
                key=cleaned["key"],
                locale=cleaned["locale"],
                exclude_id=self.instance.pk,
            )
        except ApiError as exc:
            self.add_error(_ERROR_FIELDS.get(exc.code, "text"), exc.message)
        return cleaned


class MessageTemplateForm(TextForm):
    kind = "template"
    key = forms.ChoiceField(choices=_key_choices("template"))

    class Meta(TextForm.Meta):
        model = MessageTemplate


class UiStringForm(TextForm):
    kind = "ui"
    key = forms.ChoiceField(choices=_key_choices("ui"))

    class Meta(TextForm.Meta):
        model = UiString


class TextAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    view_roles = EVERYONE
    change_roles = OWNERS
    add_roles = OWNERS
    delete_roles = OWNERS
    form: type[TextForm]
    list_display = ["key", "locale", "text_start", "updated_at"]
    list_filter = ["key", "locale"]
    search_fields = ["text"]
    ordering = ["key", "locale"]

    def get_fields(self, request, obj=None):
        fields = ["key", "locale", "text"]
        if obj is not None:
            fields += ["preview", "updated_at"]
        return ["tenant", *fields] if request.user.is_superuser else fields

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return readonly if obj is None else [*readonly, "preview", "updated_at"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        membership = self.admin_membership(request)
        form.member_tenant = membership.tenant if membership else None
        return form

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.text_update(row=obj, key=data["key"], locale=data["locale"], text=data["text"])
            return
        row = services.text_create(
            tenant=data.get("tenant") or self.admin_membership(request).tenant,
            kind=self.form.kind,
            key=data["key"],
            locale=data["locale"],
            text=data["text"],
        )
        # The admin goes on to log and redirect with `obj`: make it the stored row.
        obj.pk = row.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.text_delete(row=obj)

    def delete_queryset(self, request, queryset):
        for row in queryset:
            services.text_delete(row=row)

    @admin.display(description="text")
    def text_start(self, row):
        return row.text[:80]

    @admin.display(description="preview")
    def preview(self, row):
        """The text as a visitor would read it, with sample values for its placeholders."""
        kind = self.form.kind
        samples = {name: SAMPLE_VALUES[name] for name in allowed_placeholders(kind, row.key) if name in SAMPLE_VALUES}
        try:
            preview = services.text_preview(
                tenant=row.tenant, kind=kind, key=row.key, locale=row.locale, variables=samples, text=row.text
            )
        except ApiError as exc:
            # Only a row stored before validation existed (a v1 copy) can get here.
            return f"Cannot be shown: {exc.message}"
        return linebreaksbr(preview.text)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(TextAdmin):
    form = MessageTemplateForm


@admin.register(UiString)
class UiStringAdmin(TextAdmin):
    form = UiStringForm
