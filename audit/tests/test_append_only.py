"""The audit table refuses UPDATE and DELETE from any role (the tests connect as the
superuser `postgres`), except the retention job's purge of entries past 400 days."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.models import AuditEntry
from chatorical import tenancy
from chatorical.audit_trail import audit_record
from lifecycle.retention import audit_purge


def _entry(tenant, *, days_old: int = 0) -> AuditEntry:
    if not days_old:
        return audit_record(tenant_id=tenant.id, action="test.action", object_type="test", object_id="1")
    # Backdated by inserting a copy: the row itself cannot be updated.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditentry (tenant_id, created_at, actor_type, actor_id, actor_name, action,"
            " object_type, object_id, changed_fields, detail, request_id, client_ip_hash)"
            " VALUES (%s, now() - make_interval(days => %s), 'system', 'test', '', 'test.old', 'test', '1',"
            " '[]', '{}', '', '') RETURNING id",
            [tenant.id, days_old],
        )
        return AuditEntry._base_manager.get(pk=cursor.fetchone()[0])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditentry SET action = 'changed' WHERE id = %s",
        "UPDATE audit_auditentry SET created_at = now() - interval '1000 days' WHERE id = %s",
        "DELETE FROM audit_auditentry WHERE id = %s",
    ],
)
def test_sql_cannot_change_or_delete_an_entry(default_tenant, statement):
    entry = _entry(default_tenant)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [entry.pk])
    assert AuditEntry._base_manager.get(pk=entry.pk).action == "test.action"


def test_the_orm_cannot_change_or_delete_an_entry(default_tenant):
    entry = _entry(default_tenant)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry._base_manager.filter(pk=entry.pk).update(action="changed")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry._base_manager.filter(pk=entry.pk).delete()
    assert AuditEntry._base_manager.filter(pk=entry.pk).exists()


def test_naming_a_recent_cut_off_opens_no_way_around_it(default_tenant):
    entry = _entry(default_tenant, days_old=30)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('chatorical.audit_purge_before', now()::text, true)")
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])
    assert AuditEntry._base_manager.filter(pk=entry.pk).exists()


def test_the_setting_lasts_only_for_its_transaction(default_tenant):
    entry = _entry(default_tenant, days_old=500)
    with tenancy.tenant_context(default_tenant):
        assert audit_purge(before=timezone.now() - timedelta(days=1000)) == 0
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])


def test_the_retention_purge_removes_only_entries_past_400_days(default_tenant, other_tenant):
    old, recent = _entry(default_tenant, days_old=401), _entry(default_tenant, days_old=399)
    others_old = _entry(other_tenant, days_old=500)
    with tenancy.tenant_context(default_tenant):
        assert audit_purge(before=timezone.now() - timedelta(days=400)) == 1
    remaining = set(AuditEntry._base_manager.values_list("pk", flat=True))
    assert old.pk not in remaining
    assert {recent.pk, others_old.pk} <= remaining
