"""The audit log in the Django admin: read-only, for the tenant's owners (the log is append-only)."""

from django.contrib import admin

from audit.models import AuditEntry
from tenants.admin_scoping import NOBODY, OWNERS, TenantScopedAdminMixin


@admin.register(AuditEntry)
class AuditEntryAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Read-only for everyone, superusers included: the log is append-only."""

    view_roles = OWNERS
    change_roles = NOBODY
    list_display = ["created_at", "action", "object_type", "object_id", "actor_type", "actor_name"]
    list_filter = ["action", "actor_type"]
    search_fields = ["object_id", "actor_id", "actor_name", "request_id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]

    def has_view_permission(self, request, obj=None):
        return self._role(request) in self.view_roles

    def get_actions(self, request):
        return {}
