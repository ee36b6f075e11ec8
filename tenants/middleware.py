from django.urls import reverse

from chatorical import tenancy
from tenants.selectors import membership_for_user


class AdminTenantMiddleware:
    """In the Django admin, acts for the staff user's tenant (their Membership).

    Platform superusers see every tenant, through the escape hatch. A staff user without a
    membership acts for no tenant, and the admin shows them no tenant-owned data
    (tenants/admin_scoping.py).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = None

    def __call__(self, request):
        if self.admin_prefix is None:
            self.admin_prefix = reverse("admin:index")
        if not request.path_info.startswith(self.admin_prefix):
            return self.get_response(request)
        user = request.user
        if user.is_active and user.is_superuser:
            request.admin_membership = None
            with tenancy.cross_tenant("platform superuser in the admin"):
                return self.get_response(request)
        membership = membership_for_user(user=user) if user.is_active and user.is_staff else None
        request.admin_membership = membership
        if membership is None:
            return self.get_response(request)
        with tenancy.tenant_context(membership.tenant):
            return self.get_response(request)
