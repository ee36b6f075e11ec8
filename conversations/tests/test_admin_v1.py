"""The v1 admin endpoints of the default tenant, behind the service token."""

import uuid

import pytest
from django.conf import settings

from audit.models import AuditEntry
from chatorical import tenancy
from conversations import services
from conversations.models import Conversation, Message, OutboxEvent
from conversations.tests.factories import conversation_for, message_for
from telegram_bridge.models import TelegramTopic


@pytest.fixture
def service(default_tenant):
    return {"HTTP_AUTHORIZATION": f"Bearer {settings.SERVICE_TOKEN}"}


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/v1/admin/conversations"),
        ("get", "/v1/admin/conversations/00000000-0000-4000-8000-000000000000/export"),
        ("get", "/v1/admin/export"),
        ("post", "/v1/admin/conversations/bulk-delete"),
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Bearer ", "Basic x"])
def test_every_endpoint_needs_the_service_token(client, default_tenant, method, path, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = getattr(client, method)(path, **extra)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_service_token"


def test_no_service_token_configured_opens_nothing(client, default_tenant, settings):
    settings.SERVICE_TOKEN = ""
    assert client.get("/v1/admin/conversations", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_an_api_key_is_not_the_service_token(client, default_tenant, tenant_a):
    response = client.get("/v1/admin/conversations", HTTP_AUTHORIZATION=f"Api-Key {tenant_a.key}")
    assert response.status_code == 401


def test_list_pages_and_filters(client, service, default_tenant):
    first, second, third = (conversation_for(default_tenant, visitor_name=name) for name in ("One", "Two", "Three"))
    with tenancy.tenant_context(default_tenant):
        services.conversation_close(conversation=first)
    body = client.get("/v1/admin/conversations?page_size=2", **service).json()
    assert (body["total"], body["page"], body["page_size"], body["has_next"]) == (3, 1, 2, True)
    assert [c["visitor_name"] for c in body["conversations"]] == ["One", "Three"]
    body = client.get("/v1/admin/conversations?page_size=2&page=2", **service).json()
    assert [c["visitor_name"] for c in body["conversations"]] == ["Two"]
    assert body["has_next"] is False
    body = client.get("/v1/admin/conversations?status=closed", **service).json()
    assert [c["visitor_name"] for c in body["conversations"]] == ["One"]


@pytest.mark.parametrize(
    "query, code",
    [
        ("page=0", "invalid_page"),
        ("page=x", "invalid_page"),
        ("page_size=1000", "invalid_page_size"),
        ("status=nope", "invalid_status"),
    ],
)
def test_list_refuses_bad_parameters(client, service, query, code):
    response = client.get(f"/v1/admin/conversations?{query}", **service)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_export_one_and_all(client, service, default_tenant):
    conversation = conversation_for(default_tenant, visitor_name="Ada")
    message_for(conversation, text="hi")
    message_for(conversation, text="hello", direction=Message.Direction.OUTBOUND, agent_name="Bob")
    one = client.get(f"/v1/admin/conversations/{conversation.id}/export", **service).json()["conversation"]
    assert one["visitor_name"] == "Ada"
    assert [(m["direction"], m["text"], m["agent_name"]) for m in one["messages"]] == [
        ("INBOUND", "hi", ""),
        ("OUTBOUND", "hello", "Bob"),
    ]
    everything = client.get("/v1/admin/export", **service).json()
    assert everything["total"] == 1
    assert everything["conversations"][0]["messages"] == one["messages"]


def test_export_of_an_unknown_conversation_is_404(client, service):
    for conversation_id in (uuid.uuid4(), "not-a-uuid"):
        response = client.get(f"/v1/admin/conversations/{conversation_id}/export", **service)
        assert response.status_code == 404


def test_bulk_delete(client, service, default_tenant):
    doomed, kept = conversation_for(default_tenant), conversation_for(default_tenant)
    message_for(doomed, text="bye")
    ghost = uuid.uuid4()
    response = client.post(
        "/v1/admin/conversations/bulk-delete",
        {"ids": [str(doomed.id), str(ghost)]},
        content_type="application/json",
        **service,
    )
    assert response.status_code == 200
    assert response.json() == {"deleted": [str(doomed.id)], "not_found": [str(ghost)]}
    with tenancy.tenant_context(default_tenant):
        assert list(Conversation.objects.values_list("pk", flat=True)) == [kept.id]
        assert not Message.objects.filter(conversation_id=doomed.id).exists()
        assert not OutboxEvent.objects.filter(conversation_id=doomed.id).exists()
        entry = AuditEntry.objects.get(action="conversation.delete")
    assert (entry.object_id, entry.actor_type) == (str(doomed.id), "service_token")
    assert entry.request_id == response["X-Request-Id"]


def test_bulk_delete_queues_the_removal_of_each_topic(client, service, default_tenant):
    doomed, topicless = conversation_for(default_tenant), conversation_for(default_tenant)
    with tenancy.tenant_context(default_tenant):
        TelegramTopic.objects.create(conversation=doomed, chat_id=-100123, thread_id=77)
    client.post(
        "/v1/admin/conversations/bulk-delete",
        {"ids": [str(doomed.id), str(topicless.id)]},
        content_type="application/json",
        **service,
    )
    with tenancy.tenant_context(default_tenant):
        removals = list(
            OutboxEvent.objects.filter(kind=OutboxEvent.Kind.TOPIC_DELETE).values_list("payload", flat=True)
        )
    assert removals == [{"chat_id": -100123, "thread_id": 77, "conversation_id": str(doomed.id)}]


@pytest.mark.parametrize(
    "body", [{}, {"ids": []}, {"ids": "x"}, {"ids": ["not-a-uuid"]}, {"ids": [{"a": 1}]}, {"ids": ["x"] * 1001}]
)
def test_bulk_delete_refuses_bad_ids(client, service, body):
    response = client.post("/v1/admin/conversations/bulk-delete", body, content_type="application/json", **service)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_ids"


def test_bulk_delete_needs_post(client, service):
    assert client.get("/v1/admin/conversations/bulk-delete", **service).status_code == 405
