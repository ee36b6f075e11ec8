"""The audit records of bulk exports."""

from chatorical.audit_trail import audit_record


def export_audit(*, tenant, action: str, export_format: str, filters: dict | None = None) -> None:
    """Records a bulk export (of conversations or of the audit log) as it starts."""
    audit_record(
        tenant_id=tenant.id,
        action=action,
        object_type="tenants.tenant",
        object_id=tenant.pk,
        detail={"format": export_format, "filters": filters or {}},
    )
