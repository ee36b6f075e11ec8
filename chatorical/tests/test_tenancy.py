import threading

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps

from chatorical import tenancy
from chatorical.tenant_models import TenantManager
from conversations import services
from conversations.models import Conversation
from conversations.tasks import outbox_drain_conversation


def test_query_without_tenant_raises(db):
    with pytest.raises(tenancy.TenantContextMissing):
        list(Conversation.objects.all())


def test_save_without_tenant_raises(default_tenant):
    with pytest.raises(tenancy.TenantContextMissing):
        Conversation(tenant=default_tenant).save()


def test_queries_only_see_the_tenant_in_context(default_tenant, other_tenant):
    with tenancy.tenant_context(default_tenant):
        mine = services.conversation_start(tenant=default_tenant, visitor_name="Mine")
    with tenancy.tenant_context(other_tenant):
        theirs = services.conversation_start(tenant=other_tenant, visitor_name="Theirs")
        assert list(Conversation.objects.values_list("pk", flat=True)) == [theirs.pk]
        assert not Conversation.objects.filter(pk=mine.pk).exists()
    with tenancy.cross_tenant("test: the escape hatch sees both"):
        assert set(Conversation.objects.values_list("pk", flat=True)) == {mine.pk, theirs.pk}


def test_saving_another_tenants_row_raises(default_tenant, other_tenant):
    with tenancy.tenant_context(default_tenant):
        conversation = services.conversation_start(tenant=default_tenant)
    with tenancy.tenant_context(other_tenant), pytest.raises(tenancy.TenantMismatch):
        conversation.save()


def test_warn_mode_logs_instead_of_raising(db, settings, caplog):
    settings.TENANT_ENFORCEMENT = "warn"
    assert list(Conversation.objects.all()) == []
    assert "no tenant in context" in caplog.text


def test_every_tenant_owned_model_has_the_tenant_manager():
    tenant_owned = [
        model
        for model in apps.get_models()
        if any(
            getattr(field, "related_model", None) is apps.get_model("tenants", "Tenant")
            for field in model._meta.get_fields()
            if field.name == "tenant"
        )
    ]
    assert len(tenant_owned) >= 3, "the walk found no tenant-owned models"
    missing = [model.__name__ for model in tenant_owned if not isinstance(model._default_manager, TenantManager)]
    assert missing == []


def test_context_is_carried_into_threads_only_explicitly(default_tenant):
    seen = {}
    with tenancy.tenant_context(default_tenant):
        carried = threading.Thread(
            target=tenancy.in_current_context(lambda: seen.update(carried=tenancy.current_tenant()))
        )
        bare = threading.Thread(target=lambda: seen.update(bare=tenancy.current_tenant()))
        carried.start(), bare.start()
        carried.join(), bare.join()
    assert seen["carried"].id == default_tenant.id
    assert seen["bare"] is None


@pytest.mark.django_db(transaction=True)
def test_run_for_tenant_carries_the_context_into_the_database_thread(default_tenant):
    with tenancy.tenant_context(default_tenant):
        conversation = services.conversation_start(tenant=default_tenant)

    async def load():
        return await tenancy.run_for_tenant(default_tenant, lambda: Conversation.objects.get(pk=conversation.pk))

    assert async_to_sync(load)().pk == conversation.pk


def test_tasks_take_their_tenant_from_the_payload(default_tenant, other_tenant):
    with tenancy.tenant_context(default_tenant):
        conversation = services.conversation_start(tenant=default_tenant)
    # Run as a worker would: no ambient context, only the payload.
    assert outbox_drain_conversation.run(tenant_id=default_tenant.id, conversation_id=str(conversation.pk)) == 1
    # The other tenant's context cannot see the conversation, so there is nothing to drain.
    assert outbox_drain_conversation.run(tenant_id=other_tenant.id, conversation_id=str(conversation.pk)) == 0
