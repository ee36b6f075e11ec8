"""Recording audit entries. Each is written in the caller's transaction, so an action
that rolls back leaves no entry, and one that commits always has its entry."""

from audit.context import Actor, current_actor, current_request_facts
from audit.models import AuditEntry


def audit_record(
    *,
    tenant_id: int,
    action: str,
    object_type: str,
    object_id="",
    changed_fields=(),
    detail: dict | None = None,
    actor: Actor | None = None,
) -> AuditEntry:
    """Records that the current actor (or `actor`) did `action` to an object of the tenant.

    `changed_fields` are field names only: values never enter the log."""
    actor = actor or current_actor()
    request_id, ip_hash = current_request_facts()
    entry = AuditEntry(
        tenant_id=tenant_id,
        actor_type=actor.type,
        actor_id=actor.id[:64],
        actor_name=actor.name[:200],
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:64],
        changed_fields=sorted(set(changed_fields)),
        detail=detail or {},
        request_id=request_id[:64],
        client_ip_hash=ip_hash,
    )
    # The entry names its tenant explicitly, and the caller may act for that tenant, for
    # a platform superuser across tenants, or (CLI) for none yet: it is appended as is,
    # without the tenant-context check of TenantOwned.save.
    AuditEntry._base_manager.bulk_create([entry])
    return entry
