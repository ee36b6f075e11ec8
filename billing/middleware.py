from django.contrib import messages

from billing import selectors
from chatorical import tenancy


class PlanWarningBannerMiddleware:
    """On the admin pages of a tenant's members, a banner for each plan limit that reached
    its soft share or its end this period. After AdminTenantMiddleware, which finds the
    member's tenant."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_template_response(self, request, response):
        # Pages only, just before they render: a message added on a request that renders
        # none (a script, a redirect) would pile up for the next page.
        membership = getattr(request, "admin_membership", None)
        if membership is None:
            return response
        with tenancy.tenant_context(membership.tenant):
            warnings = selectors.billing_warnings_current(tenant=membership.tenant)
        # The hard warning of a limit says more than its soft one.
        shown = {}
        for warning in sorted(warnings, key=lambda event: event.kind == "hard_limit"):
            shown[warning.limit] = warning
        for warning in shown.values():
            reached = "reached its limit" if warning.kind == "hard_limit" else "is nearing its limit"
            name = warning.limit.replace("_", " ")
            messages.warning(request, f"Plan {membership.tenant.plan}: {name} {reached} ({warning.detail}).")
        return response
