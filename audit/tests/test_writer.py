"""Apps record through the core's entry point; the audit app, registered at start-up,
writes the entries in the caller's transaction, and without it nothing goes unrecorded."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from audit.models import AuditEntry
from chatorical import audit_trail, tenancy
from chatorical.actors import acting_as, cli_actor
from tenants.models import ApiKey
from tenants.services import api_key_create


def test_the_audit_app_writes_what_is_recorded_in_the_callers_transaction(default_tenant):
    with acting_as(cli_actor("writer-test")):
        kept = audit_trail.audit_record(
            tenant_id=default_tenant.id,
            action="test.kept",
            object_type="test",
            object_id=7,
            changed_fields=["b", "a", "b"],
        )
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_trail.audit_record(tenant_id=default_tenant.id, action="test.rolled_back", object_type="test")
            raise RuntimeError("the action fails after recording")
    with tenancy.tenant_context(default_tenant):
        entries = list(AuditEntry.objects.filter(action__startswith="test."))
    assert entries == [kept]
    assert (kept.actor_type, kept.actor_id, kept.object_id) == ("cli", "writer-test", "7")
    assert kept.changed_fields == ["a", "b"]


def test_without_a_writer_an_audited_action_fails_whole(default_tenant, monkeypatch):
    monkeypatch.setattr(audit_trail, "_writer", None)
    with pytest.raises(ImproperlyConfigured, match="No audit writer is registered"):
        api_key_create(tenant=default_tenant, name="Unrecorded", scopes=["audit:read"])
    with tenancy.tenant_context(default_tenant):
        assert not ApiKey.objects.filter(name="Unrecorded").exists()
        assert not AuditEntry.objects.filter(action="api_key.create", detail__name="Unrecorded").exists()
