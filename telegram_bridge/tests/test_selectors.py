"""The topic lookup is written out in SQL (chatorical/written_queries.py): it must scope by
tenant as the tenant manager would, and give the whole conversation."""

import pytest

from chatorical import tenancy
from conversations.models import Conversation
from conversations.tests.factories import conversation_for
from telegram_bridge.models import TelegramTopic
from telegram_bridge.selectors import conversation_in_topic

CHAT_ID, THREAD_ID = -1001234567890, 77


def with_topic(tenant, *, name: str, thread_id: int = THREAD_ID) -> Conversation:
    conversation = conversation_for(tenant, visitor_name=name)
    with tenancy.tenant_context(tenant):
        TelegramTopic.objects.update_or_create(
            conversation=conversation, defaults={"chat_id": CHAT_ID, "thread_id": thread_id}
        )
    return conversation


def found(tenant, *, chat_id: int = CHAT_ID, thread_id: int = THREAD_ID) -> Conversation | None:
    with tenancy.tenant_context(tenant):
        return conversation_in_topic(chat_id=chat_id, thread_id=thread_id)


def test_each_tenant_finds_only_its_own_conversation_in_the_same_chat_and_thread(default_tenant, other_tenant):
    ours, theirs = with_topic(default_tenant, name="Ours"), with_topic(other_tenant, name="Theirs")
    assert found(default_tenant).pk == ours.pk
    assert found(other_tenant).pk == theirs.pk


def test_a_thread_only_another_tenant_has_is_not_found(default_tenant, other_tenant):
    with_topic(other_tenant, name="Theirs", thread_id=78)
    assert found(default_tenant, thread_id=78) is None
    assert found(default_tenant, chat_id=-1009999999999) is None


def test_the_conversation_comes_whole_and_saves_as_a_row_read_by_the_orm(default_tenant):
    ours = with_topic(default_tenant, name="Ada")
    with tenancy.tenant_context(default_tenant):
        read = Conversation.objects.get(pk=ours.pk)
        looked_up = found(default_tenant)
        assert [getattr(looked_up, f.attname) for f in Conversation._meta.concrete_fields] == [
            getattr(read, f.attname) for f in Conversation._meta.concrete_fields
        ]
        looked_up.visitor_name = "Ada L."
        looked_up.save(update_fields=["visitor_name"])
        assert Conversation.objects.get(pk=ours.pk).visitor_name == "Ada L."


def test_a_lookup_with_no_tenant_in_context_raises(default_tenant):
    with_topic(default_tenant, name="Ada")
    with pytest.raises(tenancy.TenantContextMissing):
        conversation_in_topic(chat_id=CHAT_ID, thread_id=THREAD_ID)
