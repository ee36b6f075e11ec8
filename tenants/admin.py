from django import forms
from django.contrib import admin, messages
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from chatorical.admin_forms import refusal_as_form_error
from chatorical.audit_trail import AuditedAdminMixin
from tenants import crypto, retention, selectors, services
from tenants.admin_scoping import EVERYONE, OWNERS, TenantScopedAdminMixin
from tenants.models import ApiKey, Membership, TelegramConfig, Tenant


class TenantForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = "__all__"

    def clean_allowed_origins(self):
        origins = self.cleaned_data["allowed_origins"]
        with refusal_as_form_error():
            services.tenant_origins_check(tenant=self.instance, origins=list(origins or ()))
        return origins

    def clean_retention_days(self):
        days = self.cleaned_data["retention_days"]
        with refusal_as_form_error():
            retention.retention_days_check(tenant=self.instance, days=days)
        return days


@admin.register(Tenant)
class TenantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Platform superusers only (ModelAdmin's default: staff need Django permissions,
    which tenant staff are not given)."""

    form = TenantForm
    list_display = ["slug", "name", "status", "plan", "default_locale", "created_at"]
    list_filter = ["status", "plan"]
    search_fields = ["slug", "name"]
    # The plan changes on billing's page (plans and usage), which records who and why.
    readonly_fields = ["plan", "created_at", "updated_at"]


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        tenant = cleaned.get("tenant")
        if tenant is not None and (self.instance.pk is None or self.instance.tenant_id != tenant.pk):
            with refusal_as_form_error():
                services.membership_seat_check(tenant=tenant)
        return cleaned


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = MembershipForm
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]

    def has_module_permission(self, request):
        return request.user.is_superuser


class ApiKeyAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["tenant", "name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    view_roles = EVERYONE
    change_roles = OWNERS  # revoking
    add_roles = OWNERS
    list_display = ["name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["tenant", "name", "scopes"] if request.user.is_superuser else ["name", "scopes"]
        return ["name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        # A key is never edited, only revoked (the action on the list).
        return [] if obj is None else self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        tenant = form.cleaned_data.get("tenant") or self.admin_membership(request).tenant
        issued = services.api_key_create(tenant=tenant, name=obj.name, scopes=form.cleaned_data["scopes"])
        # The admin goes on to log and redirect with `obj`: make it the stored row.
        obj.pk = issued.api_key.pk
        obj.refresh_from_db()
        messages.warning(
            request, f"The new key is {issued.raw_key} — copy it now: it is stored only as a hash and not shown again."
        )

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True).select_related("tenant"):
            services.api_key_revoke(api_key=api_key)
        messages.success(request, "Revoked.")


class TelegramConfigForm(forms.ModelForm):
    """Secrets are write-only: the page never shows them; empty keeps the stored one."""

    bot_token = forms.CharField(required=False, widget=forms.PasswordInput, strip=True)
    webhook_secret = forms.CharField(required=False, widget=forms.PasswordInput, strip=True)
    header_secret = forms.CharField(
        required=False, widget=forms.PasswordInput, strip=True, help_text="Optional (X-Telegram-Bot-Api-Secret-Token)."
    )
    # Set by TelegramConfigAdmin.get_form: the tenant a member's new config is for.
    member_tenant = None

    class Meta:
        model = TelegramConfig
        fields = ["tenant", "support_group_id"]

    def clean(self):
        cleaned = super().clean()
        tenant = self.instance.tenant if self.instance.pk else cleaned.get("tenant") or self.member_tenant
        if tenant is None:
            return cleaned
        stored = selectors.telegram_settings_for(tenant) if self.instance.pk else None
        for field in ("bot_token", "webhook_secret", "header_secret"):
            if not cleaned.get(field) and stored is not None:
                cleaned[field] = getattr(stored, field)
        for field in ("bot_token", "webhook_secret"):
            if not cleaned.get(field):
                self.add_error(field, "Required.")
        if self.errors:
            return cleaned
        with refusal_as_form_error():
            services.telegram_config_validate(
                tenant=tenant,
                bot_token=cleaned["bot_token"],
                webhook_secret=cleaned["webhook_secret"],
                header_secret=cleaned["header_secret"],
            )
        cleaned["tenant"] = tenant
        return cleaned


@admin.register(TelegramConfig)
class TelegramConfigAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    view_roles = OWNERS
    change_roles = OWNERS
    add_roles = OWNERS
    delete_roles = OWNERS
    form = TelegramConfigForm
    list_display = ["support_group_id", "bot_token_masked", "webhook_secret_masked", "updated_at"]

    def get_fields(self, request, obj=None):
        fields = ["support_group_id", "bot_token", "webhook_secret", "header_secret"]
        return ["tenant", *fields] if request.user.is_superuser and obj is None else fields

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        membership = self.admin_membership(request)
        form.member_tenant = membership.tenant if membership else None
        return form

    @method_decorator(sensitive_post_parameters("bot_token", "webhook_secret", "header_secret"))
    def changeform_view(self, request, *args, **kwargs):
        return super().changeform_view(request, *args, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        config = services.telegram_config_set(
            tenant=data["tenant"],
            bot_token=data["bot_token"],
            support_group_id=data["support_group_id"],
            webhook_secret=data["webhook_secret"],
            header_secret=data["header_secret"],
        )
        # The admin goes on to log and redirect with `obj`: make it the stored row.
        obj.pk = config.pk
        obj.refresh_from_db()

    @admin.display(description="bot token")
    def bot_token_masked(self, config):
        return selectors.secret_mask(crypto.decrypt(config.bot_token_encrypted))

    @admin.display(description="webhook secret")
    def webhook_secret_masked(self, config):
        return selectors.secret_mask(crypto.decrypt(config.webhook_secret_encrypted))
