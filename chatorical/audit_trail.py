"""Recording audit entries: `audit_record` is the one way every app records what it did.

The entry is written by the writer the audit app registers in its AppConfig.ready
(audit/apps.py), so the apps below it record without importing it. The writer runs in the
caller's thread and transaction: an action that rolls back leaves no entry, and one that
commits always has its entry. Without a writer, recording raises: an entry is never dropped.
"""

from dataclasses import dataclass
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from chatorical.actors import Actor, current_actor, current_request_facts


@dataclass(frozen=True)
class AuditRecord:
    tenant_id: int
    actor: Actor
    action: str
    object_type: str
    object_id: str
    changed_fields: list[str]
    detail: dict
    request_id: str
    client_ip_hash: str


class AuditWriter(Protocol):
    """Appends the record to the audit log, in the current transaction; answers the entry."""

    def __call__(self, *, record: AuditRecord) -> object: ...


_writer: AuditWriter | None = None


def audit_writer_register(writer: AuditWriter) -> None:
    global _writer
    _writer = writer


def audit_record(
    *,
    tenant_id: int,
    action: str,
    object_type: str,
    object_id="",
    changed_fields=(),
    detail: dict | None = None,
    actor: Actor | None = None,
) -> object:
    """Records that the current actor (or `actor`) did `action` to an object of the tenant;
    answers the writer's entry.

    `changed_fields` are field names only: values never enter the log."""
    if _writer is None:
        raise ImproperlyConfigured(
            f"No audit writer is registered, so {action!r} cannot be recorded: the audit app"
            " registers it in its AppConfig.ready (is `audit` in INSTALLED_APPS?)."
        )
    request_id, ip_hash = current_request_facts()
    record = AuditRecord(
        tenant_id=tenant_id,
        actor=actor or current_actor(),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        changed_fields=sorted(set(changed_fields)),
        detail=detail or {},
        request_id=request_id,
        client_ip_hash=ip_hash,
    )
    return _writer(record=record)


def _tenant_id_of(obj) -> int | None:
    if obj._meta.label_lower == "tenants.tenant":
        return obj.pk
    return getattr(obj, "tenant_id", None)


class AuditedAdminMixin:
    """For a ModelAdmin of a tenant's rows (or of tenants): every add, change and delete
    made in the Django admin goes to the audit log, next to Django's own LogEntry (which
    admins can delete; the audit log they cannot). Rows of no tenant are skipped."""

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
