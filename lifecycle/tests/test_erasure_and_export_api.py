"""Erasure and export on request through /api/v2: POST conversations/<id>/erase and
GET conversations/<id>/export."""

import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from audit.models import AuditEntry
from chatorical import tenancy
from conversations import services
from conversations.models import Conversation, Message, OutboxEvent
from conversations.tests.factories import conversation_for, message_for, widget_socket_and_key
from telegram_bridge.models import TelegramTopic
from tenants.models import ApiKey
from tenants.services import api_key_create


def key_header(key):
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


def erase(client, world, conversation_id, key=None):
    return client.post(f"/api/v2/conversations/{conversation_id}/erase", **key_header(key or world.key))


def test_erase_removes_the_conversation_its_messages_and_queues_its_topic(client, tenant_a):
    conversation = tenant_a.conversation
    with tenancy.tenant_context(tenant_a.tenant):
        TelegramTopic.objects.create(conversation=conversation, chat_id=-1009, thread_id=41)
    response = erase(client, tenant_a, conversation.id)
    assert response.status_code == 200
    assert response.json() == {"id": str(conversation.id), "erased": True, "messages": 2}
    with tenancy.tenant_context(tenant_a.tenant):
        assert not Conversation.objects.filter(pk=conversation.pk).exists()
        assert not Message.objects.filter(conversation_id=conversation.pk).exists()
        assert not OutboxEvent.objects.filter(conversation_id=conversation.pk).exists()
        removal = OutboxEvent.objects.get(kind=OutboxEvent.Kind.TOPIC_DELETE)
        entry = AuditEntry.objects.get(action="conversation.erase")
    assert removal.payload == {"chat_id": -1009, "thread_id": 41, "conversation_id": str(conversation.id)}
    assert (entry.actor_type, entry.actor_id, entry.actor_name) == (
        "api_key",
        tenant_a.api_key.prefix,
        tenant_a.api_key.name,
    )
    assert entry.object_id == str(conversation.id)
    assert entry.detail == {"messages": 2}
    assert len(entry.client_ip_hash) == 32 and "127.0.0.1" not in entry.client_ip_hash


def test_an_erased_conversation_answers_404_everywhere(client, tenant_a, default_tenant):
    conversation = tenant_a.conversation
    assert erase(client, tenant_a, conversation.id).status_code == 200
    headers = key_header(tenant_a.key)
    for path in (
        f"/api/v2/conversations/{conversation.id}/",
        f"/api/v2/conversations/{conversation.id}/messages/",
        f"/api/v2/conversations/{conversation.id}/export",
        f"/api/v2/exports/{conversation.id}/",
    ):
        response = client.get(path, **headers)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] in ("conversation_not_found", "not_found")
    assert erase(client, tenant_a, conversation.id).status_code == 404
    assert client.post(f"/api/v2/conversations/{conversation.id}/close/", **headers).status_code == 404
    token = client.post(
        f"/v2/tenants/{tenant_a.tenant.slug}/conversations/{conversation.id}/token",
        HTTP_ORIGIN="https://tenant-a.example",
    )
    assert token.status_code == 404


def test_erase_and_export_of_another_tenants_conversation_are_404(client, tenant_a, tenant_b):
    response = client.get(f"/api/v2/conversations/{tenant_b.conversation.id}/export", **key_header(tenant_a.key))
    assert response.status_code == 404
    assert erase(client, tenant_a, tenant_b.conversation.id).status_code == 404
    with tenancy.tenant_context(tenant_b.tenant):
        assert Conversation.objects.filter(pk=tenant_b.conversation.pk).exists()
    with tenancy.tenant_context(tenant_a.tenant):
        assert not AuditEntry.objects.filter(action__in=["conversation.erase", "conversation.export"]).exists()


def test_erase_and_export_need_their_scopes(client, tenant_a):
    reader = api_key_create(tenant=tenant_a.tenant, name="Reader", scopes=[ApiKey.Scope.CONVERSATIONS_WRITE]).raw_key
    conversation_id = tenant_a.conversation.id
    assert erase(client, tenant_a, conversation_id, key=reader).status_code == 403
    response = client.get(f"/api/v2/conversations/{conversation_id}/export", **key_header(reader))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert client.post(f"/api/v2/conversations/{conversation_id}/erase").status_code == 401
    assert client.post(f"/api/v2/conversations/{uuid.uuid4()}/erase", **key_header(tenant_a.key)).status_code == 404


def test_export_is_everything_stored_about_the_conversation(client, tenant_a):
    conversation = conversation_for(tenant_a.tenant, visitor_name="Ada", locale="de-AT", page_url="https://a.example/p")
    message_for(conversation, text="Hallo")
    with tenancy.tenant_context(tenant_a.tenant):
        services.conversation_claim(conversation=conversation, agent_id=7, agent_name="grace")
    message_for(conversation, text="Hi Ada", direction=Message.Direction.OUTBOUND, agent_name="grace")
    message_for(conversation, text="From the shop bot", direction=Message.Direction.OUTBOUND, agent_name="Shop bot")
    response = client.get(f"/api/v2/conversations/{conversation.id}/export", **key_header(tenant_a.key))
    assert response.status_code == 200
    document = response.json()
    assert {
        key: document[key] for key in ("id", "visitor_name", "locale", "page_url", "status", "claimed_by_name")
    } == {
        "id": str(conversation.id),
        "visitor_name": "Ada",
        "locale": "de-AT",
        "page_url": "https://a.example/p",
        "status": "claimed",
        "claimed_by_name": "grace",
    }
    assert document["claimed_by_id"] == 7
    assert document["created_at"] and document["updated_at"] and document["closed_at"] is None
    assert document["agents"] == ["Shop bot", "grace"]
    assert [(m["seq"], m["direction"], m["text"], m["agent_name"]) for m in document["messages"]] == [
        (1, "INBOUND", "Hallo", ""),
        (2, "OUTBOUND", "Hi Ada", "grace"),
        (3, "OUTBOUND", "From the shop bot", "Shop bot"),
    ]
    assert all(m["created_at"] for m in document["messages"])
    with tenancy.tenant_context(tenant_a.tenant):
        assert AuditEntry.objects.filter(action="conversation.export", object_id=str(conversation.id)).count() == 1


@pytest.mark.django_db(transaction=True)
async def test_erasing_closes_the_open_socket_with_conversation_closed_first(default_tenant):
    conversation, socket, key = await widget_socket_and_key(
        default_tenant, key_name="Privacy", scope=ApiKey.Scope.CONVERSATIONS_ERASE
    )

    def post():
        return Client().post(f"/api/v2/conversations/{conversation.id}/erase", **key_header(key))

    assert (await sync_to_async(post)()).status_code == 200
    assert await socket.receive_json_from(timeout=5) == {"type": "conversation_closed"}
    assert (await socket.receive_output(timeout=5))["type"] == "websocket.close"
    await socket.disconnect()
