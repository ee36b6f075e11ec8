from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from billing import selectors, services
from billing.models import BillingEvent, Plan, StripeEvent, Subscription, TenantBilling
from chatorical import tenancy
from tenants.admin_scoping import EVERYONE, NOBODY, TenantScopedAdminMixin


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    """Platform staff only (tenant staff hold no Django permissions)."""

    list_display = [
        "code", "name", "monthly_price_cents", "conversations_per_month", "messages_per_month",
        "api_calls_per_month", "widget_origins", "admin_seats", "retention_days_max", "soft_limit_percent",
        "api_rate_multiplier", "stripe_price_id",
    ]  # fmt: skip


class TenantPlanForm(forms.ModelForm):
    plan = forms.ChoiceField()
    reason = forms.CharField(required=False, help_text="Why, for the tenant's billing history.")

    class Meta:
        model = TenantBilling
        fields = ["plan"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "plan" in self.fields:  # members see it read-only
            self.fields["plan"].choices = [(plan.code, str(plan)) for plan in Plan.objects.all()]


@admin.register(TenantBilling)
class TenantBillingAdmin(admin.ModelAdmin):
    """Every member sees their tenant's plan, usage and billing history; only platform
    staff change the plan (recorded with who and why)."""

    form = TenantPlanForm
    list_display = ["slug", "plan", "usage_summary"]

    @staticmethod
    def _membership(request):
        return getattr(request, "admin_membership", None)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        membership = self._membership(request)
        return queryset.filter(pk=membership.tenant_id) if membership else queryset.none()

    def has_module_permission(self, request):
        return request.user.is_superuser or self._membership(request) is not None

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        if request.user.is_superuser:
            return ["slug", "plan", "reason", "usage_bars", "billing_history"]
        return ["slug", "plan", "usage_bars", "billing_history"]

    def get_readonly_fields(self, request, obj=None):
        shown = ["slug", "usage_bars", "billing_history"]
        return shown if request.user.is_superuser else ["plan", *shown]

    def save_model(self, request, obj, form, change):
        # Through the service, not obj.save(): the change is recorded with who and why.
        services.tenant_plan_set(
            tenant=obj,
            code=form.cleaned_data["plan"],
            source=BillingEvent.Source.ADMIN,
            actor=request.user.get_username(),
            reason=form.cleaned_data.get("reason", ""),
        )
        obj.refresh_from_db()

    @staticmethod
    def _usage(tenant):
        with tenancy.tenant_context(tenant):
            return selectors.plan_usage(tenant=tenant)

    @admin.display(description="usage")
    def usage_summary(self, tenant):
        usage = self._usage(tenant)
        return (
            ", ".join(
                f"{name} {usage.limits[name].used}/{usage.limits[name].limit}"
                for name in selectors.PERIOD_LIMITS
                if usage.limits[name].limit is not None
            )
            or "unlimited"
        )

    @admin.display(description="usage this period")
    def usage_bars(self, tenant):
        usage = self._usage(tenant)
        rows = format_html_join(
            "",
            '<tr><th>{}</th><td><progress max="{}" value="{}"></progress></td><td>{} of {}</td><td>{}</td></tr>',
            (
                (
                    name.replace("_", " "),
                    limit.limit or 1,
                    min(limit.used, limit.limit or 0),
                    limit.used,
                    limit.limit if limit.limit is not None else "unlimited",
                    limit.state,
                )
                for name, limit in usage.limits.items()
            ),
        )
        return format_html("<p>{} to {} (UTC)</p><table>{}</table>", usage.period.start, usage.period.end, rows)

    @admin.display(description="billing history (latest 50)")
    def billing_history(self, tenant):
        with tenancy.tenant_context(tenant):
            events = list(BillingEvent.objects.all()[:50])
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        f"{event.created_at:%Y-%m-%d %H:%M}",
                        event.kind,
                        event.source,
                        event.actor,
                        event.detail or event.to_plan,
                    )
                    for event in events
                ),
            ),
        )


@admin.register(BillingEvent)
class BillingEventAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    view_roles = EVERYONE
    change_roles = NOBODY
    list_display = ["created_at", "kind", "source", "actor", "from_plan", "to_plan", "limit", "detail"]
    list_filter = ["kind", "source"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Platform staff link a tenant to its Stripe customer; webhooks keep the rest."""

    list_display = ["tenant", "stripe_customer_id", "status", "price_id", "current_period_end", "grace_until"]
    readonly_fields = [
        "stripe_subscription_id", "status", "price_id", "current_period_start", "current_period_end",
        "grace_until", "downgrade_at", "state_as_of",
    ]  # fmt: skip


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "stripe_id", "type", "matched_tenant", "outcome"]
    list_filter = ["outcome", "type"]
    search_fields = ["stripe_id"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
