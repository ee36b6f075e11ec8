"""The audit log's writer, registered with the core's entry point (chatorical/audit_trail.py)
in AuditConfig.ready: apps record through `audit_record`, never by calling it."""

from audit.models import AuditEntry
from chatorical.audit_trail import AuditRecord


def audit_entry_create(*, record: AuditRecord) -> AuditEntry:
    """Appends the record, cut to the columns' widths, in the caller's transaction."""
    entry = AuditEntry(
        tenant_id=record.tenant_id,
        actor_type=record.actor.type,
        actor_id=record.actor.id[:64],
        actor_name=record.actor.name[:200],
        action=record.action,
        object_type=record.object_type,
        object_id=record.object_id[:64],
        changed_fields=record.changed_fields,
        detail=record.detail,
        request_id=record.request_id[:64],
        client_ip_hash=record.client_ip_hash,
    )
    # The entry names its tenant explicitly, and the caller may act for that tenant, for
    # a platform superuser across tenants, or (CLI) for none yet: it is appended as is,
    # without the tenant-context check of TenantOwned.save.
    AuditEntry._base_manager.bulk_create([entry])
    return entry
