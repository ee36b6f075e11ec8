"""The tenant scoping of every Django admin page that shows tenant-owned rows.

A staff user acts for the tenant of their Membership (tenants/middleware.py) and, by their
role, may view, change, add or delete; a platform superuser acts for every tenant with
the rights of an owner and picks the tenant of new rows.
"""

from django.core.exceptions import PermissionDenied

from chatorical.audit_trail import AuditedAdminMixin
from tenants.models import Membership

Role = Membership.Role
EVERYONE = frozenset(Role.values)
OWNERS = frozenset({Role.OWNER})
NOBODY = frozenset()


class TenantScopedAdminMixin(AuditedAdminMixin):
    """For ModelAdmin and inlines of tenant-owned models. Subclasses set the role sets.
    Every change made through it is audited."""

    view_roles = EVERYONE
    change_roles = OWNERS
    add_roles = NOBODY
    delete_roles = NOBODY

    @staticmethod
    def admin_membership(request) -> Membership | None:
        return getattr(request, "admin_membership", None)

    def _role(self, request) -> str | None:
        if request.user.is_active and request.user.is_superuser:
            return Role.OWNER
        membership = self.admin_membership(request)
        return membership.role if membership else None

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        membership = self.admin_membership(request)
        if membership is None:
            raise PermissionDenied("no tenant membership")
        return queryset.filter(tenant_id=membership.tenant_id)

    def has_module_permission(self, request):
        return self._role(request) in self.view_roles | self.change_roles

    def has_view_permission(self, request, obj=None):
        return self._role(request) in self.view_roles | self.change_roles

    def has_change_permission(self, request, obj=None):
        return self._role(request) in self.change_roles

    def has_add_permission(self, request, *args):
        return self._role(request) in self.add_roles

    def has_delete_permission(self, request, obj=None):
        return self._role(request) in self.delete_roles

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        return ["tenant", *columns] if request.user.is_superuser else columns

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        return [*filters, "tenant"] if request.user.is_superuser else filters

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or ())
        # Members never choose a tenant: their rows are their tenant's.
        return exclude if request.user.is_superuser else [*exclude, "tenant"]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        # A row never moves between tenants.
        return [*readonly, "tenant"] if obj is not None and request.user.is_superuser else readonly
