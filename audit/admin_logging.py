"""Every add, change and delete made in the Django admin goes to the audit log, next to
Django's own LogEntry (which admins can delete; the audit log they cannot)."""

from audit.services import audit_record


def _tenant_id_of(obj) -> int | None:
    if obj._meta.label_lower == "tenants.tenant":
        return obj.pk
    return getattr(obj, "tenant_id", None)


class AuditedAdminMixin:
    """For a ModelAdmin of a tenant's rows (or of tenants). Rows of no tenant are skipped."""

    def construct_change_message(self, request, form, formsets, add=False):
        # Field names, as the model spells them; the message only has verbose names.
        request._audit_changed_fields = list(form.changed_data)
        return super().construct_change_message(request, form, formsets, add)

    def _audit(self, request, obj, action: str, changed_fields=()):
        tenant_id = _tenant_id_of(obj)
        if tenant_id is not None:
            audit_record(
                tenant_id=tenant_id,
                action=action,
                object_type=obj._meta.label_lower,
                object_id=obj.pk,
                changed_fields=changed_fields,
            )

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "admin.add", getattr(request, "_audit_changed_fields", ()))
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, obj, "admin.change", getattr(request, "_audit_changed_fields", ()))
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "admin.delete")
        return super().log_deletions(request, queryset)
