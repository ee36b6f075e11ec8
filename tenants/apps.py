from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"

    def ready(self):
        # Connects the per-tenant CORS decision to django-cors-headers.
        from tenants import cors  # noqa: F401
