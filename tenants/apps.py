from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self):
        # Connects the per-tenant CORS decision to django-cors-headers, and gives the
        # core's tenant middleware its way to find a request's tenant.
        from chatorical.middleware import tenant_lookup_register
        from tenants import cors  # noqa: F401
        from tenants.selectors import request_tenant

        tenant_lookup_register(request_tenant)
