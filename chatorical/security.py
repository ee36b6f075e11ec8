"""Security headers the settings cannot express."""

from django.urls import reverse

# The admin's own scripts and styles only; inline styles stay allowed because admin
# templates use `style` attributes.
ADMIN_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


class AdminContentSecurityPolicyMiddleware:
    """Content-Security-Policy on the Django admin's pages."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = None

    def __call__(self, request):
        response = self.get_response(request)
        if self.admin_prefix is None:
            self.admin_prefix = reverse("admin:index")
        if request.path_info.startswith(self.admin_prefix):
            response.setdefault("Content-Security-Policy", ADMIN_CSP)
        return response
