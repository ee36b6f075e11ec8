"""The tenant-aware manager and the base of every tenant-owned model."""

import logging

from django.conf import settings
from django.db import models

from chatorical.tenancy import TenantContextMissing, TenantMismatch, TenantRef, current_scope, is_cross_tenant

logger = logging.getLogger(__name__)


class TenantManager(models.Manager):
    """Scopes every query to the tenant in context; raises without one."""

    def get_queryset(self):
        queryset = super().get_queryset()
        scope = current_scope()
        if isinstance(scope, TenantRef):
            return queryset.filter(tenant_id=scope.id)
        if is_cross_tenant():
            return queryset
        message = f"query on {self.model.__name__} with no tenant in context"
        if settings.TENANT_ENFORCEMENT == "strict":
            raise TenantContextMissing(message)
        logger.warning(message)
        return queryset


class TenantOwned(models.Model):
    """Base for every model that belongs to one tenant."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")

    objects = TenantManager()

    class Meta:
        # Django's base manager (deletes, related-object access) stays plain: those start
        # from a row whose tenant is already fixed. Only the default manager is scoped.
        abstract = True

    def save(self, *args, **kwargs):
        scope = current_scope()
        if isinstance(scope, TenantRef):
            if self.tenant_id is None:
                self.tenant_id = scope.id
            elif self.tenant_id != scope.id:
                raise TenantMismatch(f"{type(self).__name__} of tenant {self.tenant_id} saved as tenant {scope.id}")
        elif scope is None and settings.TENANT_ENFORCEMENT == "strict":
            raise TenantContextMissing(f"save of {type(self).__name__} with no tenant in context")
        super().save(*args, **kwargs)
