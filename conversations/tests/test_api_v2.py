import logging
import uuid

import pytest
import yaml
from asgiref.sync import sync_to_async
from django.test import Client

from chatorical import tenancy
from chatorical.logs import ContextFilter
from conversations import services
from conversations.models import Conversation
from conversations.tests.factories import conversation_for, message_for, widget_socket_and_key
from tenants.models import ApiKey
from tenants.services import api_key_create


def key_header(key):
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


def key_with(tenant, *scopes):
    return api_key_create(tenant=tenant, name="Limited", scopes=list(scopes)).raw_key


def test_list_pages_newest_activity_first(client, tenant_a):
    older = conversation_for(tenant_a.tenant, visitor_name="Older")
    newer = conversation_for(tenant_a.tenant, visitor_name="Newer")
    message_for(older, text="bump")  # now the most recently active
    response = client.get("/api/v2/conversations/?page_size=2", **key_header(tenant_a.key))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [c["id"] for c in body["results"]] == [str(older.id), str(newer.id)]
    assert body["next"] is not None
    second = client.get(body["next"], **key_header(tenant_a.key)).json()
    assert [c["id"] for c in second["results"]] == [str(tenant_a.conversation.id)]
    assert second["next"] is None


def test_list_filters_by_status(client, tenant_a):
    closed = conversation_for(tenant_a.tenant)
    with tenancy.tenant_context(tenant_a.tenant):
        services.conversation_close(conversation=closed)
    response = client.get("/api/v2/conversations/?status=closed", **key_header(tenant_a.key))
    assert [c["id"] for c in response.json()["results"]] == [str(closed.id)]
    response = client.get("/api/v2/conversations/?status=open", **key_header(tenant_a.key))
    assert [c["id"] for c in response.json()["results"]] == [str(tenant_a.conversation.id)]


def test_bad_status_is_a_validation_error_in_the_one_shape(client, tenant_a):
    response = client.get("/api/v2/conversations/?status=nope", **key_header(tenant_a.key))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"status"}
    assert error["message"]


def test_page_past_the_end_is_a_json_404(client, tenant_a):
    response = client.get("/api/v2/conversations/?page=9", **key_header(tenant_a.key))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_detail(client, tenant_a):
    response = client.get(f"/api/v2/conversations/{tenant_a.conversation.id}/", **key_header(tenant_a.key))
    assert response.status_code == 200
    assert response.json()["visitor_name"] == "Visitor of tenant-a"
    assert response.json()["status"] == "open"


def test_unknown_conversation_is_404(client, tenant_a):
    response = client.get(f"/api/v2/conversations/{uuid.uuid4()}/", **key_header(tenant_a.key))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "conversation_not_found"
    response = client.get("/api/v2/conversations/not-a-uuid/", **key_header(tenant_a.key))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_messages_page_by_seq(client, tenant_a):
    for n in range(3):
        message_for(tenant_a.conversation, text=f"more {n}")
    url = f"/api/v2/conversations/{tenant_a.conversation.id}/messages/"
    first = client.get(f"{url}?limit=2", **key_header(tenant_a.key)).json()
    assert [m["seq"] for m in first["results"]] == [1, 2]
    assert first["next_after_seq"] == 2
    rest = client.get(f"{url}?after_seq=2&limit=10", **key_header(tenant_a.key)).json()
    assert [m["seq"] for m in rest["results"]] == [3, 4, 5]
    assert rest["next_after_seq"] is None
    assert rest["results"][0]["text"] == "more 0"


@pytest.mark.parametrize(
    "query", ["after_seq=-1", "limit=0", "limit=501", "after_seq=x", "after_seq=99999999999999999999"]
)
def test_bad_message_paging_is_400(client, tenant_a, query):
    url = f"/api/v2/conversations/{tenant_a.conversation.id}/messages/?{query}"
    response = client.get(url, **key_header(tenant_a.key))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_post_message_is_an_agent_message(client, tenant_a):
    url = f"/api/v2/conversations/{tenant_a.conversation.id}/messages/"
    response = client.post(url, {"text": "We shipped it."}, content_type="application/json", **key_header(tenant_a.key))
    assert response.status_code == 201
    body = response.json()
    assert (body["direction"], body["agent_name"], body["seq"]) == ("OUTBOUND", "tenant-a integration", 3)
    history = client.get(url, **key_header(tenant_a.key)).json()["results"]
    assert [(m["seq"], m["text"]) for m in history][-1] == (3, "We shipped it.")


@pytest.mark.django_db(transaction=True)
async def test_posted_message_reaches_the_widget_socket(default_tenant):
    """Through the public surfaces: a v1 widget socket of the default tenant sees what an
    integration posts with the default tenant's API key, once it commits."""

    conversation, socket, key = await widget_socket_and_key(
        default_tenant, key_name="Shop bot", scope=ApiKey.Scope.CONVERSATIONS_WRITE
    )

    def post():
        return Client().post(
            f"/api/v2/conversations/{conversation.id}/messages/",
            {"text": "We shipped it."},
            content_type="application/json",
            **key_header(key),
        )

    response = await sync_to_async(post)()
    assert response.status_code == 201
    assert await socket.receive_json_from(timeout=5) == {
        "direction": "OUTBOUND",
        "text": "We shipped it.",
        "agent": "Shop bot",
    }
    await socket.disconnect()


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "invalid"),
        ({"text": ""}, "invalid"),
        ({"text": 5}, "invalid"),
        ({"text": "   "}, "empty_text"),
        ({"text": "a\x00b"}, "invalid"),
    ],
)
def test_post_message_refuses_bad_text(client, tenant_a, body, code):
    url = f"/api/v2/conversations/{tenant_a.conversation.id}/messages/"
    response = client.post(url, body, content_type="application/json", **key_header(tenant_a.key))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_post_broken_json_is_400(client, tenant_a):
    url = f"/api/v2/conversations/{tenant_a.conversation.id}/messages/"
    response = client.post(url, "{nope", content_type="application/json", **key_header(tenant_a.key))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_post_to_a_closed_conversation_is_a_conflict(client, tenant_a):
    with tenancy.tenant_context(tenant_a.tenant):
        services.conversation_close(conversation=tenant_a.conversation)
    url = f"/api/v2/conversations/{tenant_a.conversation.id}/messages/"
    response = client.post(url, {"text": "late"}, content_type="application/json", **key_header(tenant_a.key))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conversation_closed"


def test_close(client, tenant_a):
    url = f"/api/v2/conversations/{tenant_a.conversation.id}/close/"
    response = client.post(url, **key_header(tenant_a.key))
    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert client.post(url, **key_header(tenant_a.key)).status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_close_reaches_the_widget_socket_and_ends_it(default_tenant):
    """The close is fanned out once it commits: the visitor's socket hears it and is closed."""
    conversation, socket, key = await widget_socket_and_key(
        default_tenant, key_name="Shop bot", scope=ApiKey.Scope.CONVERSATIONS_WRITE
    )

    def close():
        return Client().post(f"/api/v2/conversations/{conversation.id}/close/", **key_header(key))

    response = await sync_to_async(close)()
    assert response.status_code == 200
    assert await socket.receive_json_from(timeout=5) == {"type": "conversation_closed"}
    assert (await socket.receive_output(timeout=5))["type"] == "websocket.close"


def test_exports(client, tenant_a):
    second = conversation_for(tenant_a.tenant)
    message_for(second, text="second")
    body = client.get("/api/v2/exports/?page_size=1", **key_header(tenant_a.key)).json()
    assert body["count"] == 2
    [first] = body["results"]
    assert first["id"] == str(tenant_a.conversation.id)
    assert [m["text"] for m in first["messages"]] == ["hello from tenant-a", "answer of tenant-a"]
    one = client.get(f"/api/v2/exports/{second.id}/", **key_header(tenant_a.key)).json()
    assert [m["text"] for m in one["messages"]] == ["second"]


@pytest.mark.parametrize(
    "method, path, scope",
    [
        ("get", "/api/v2/conversations/", ApiKey.Scope.CONVERSATIONS_READ),
        ("get", "/api/v2/conversations/{id}/", ApiKey.Scope.CONVERSATIONS_READ),
        ("get", "/api/v2/conversations/{id}/messages/", ApiKey.Scope.CONVERSATIONS_READ),
        ("post", "/api/v2/conversations/{id}/messages/", ApiKey.Scope.CONVERSATIONS_WRITE),
        ("post", "/api/v2/conversations/{id}/close/", ApiKey.Scope.CONVERSATIONS_WRITE),
        ("get", "/api/v2/exports/", ApiKey.Scope.EXPORTS_READ),
        ("get", "/api/v2/exports/{id}/", ApiKey.Scope.EXPORTS_READ),
        ("get", "/api/v2/usage/", ApiKey.Scope.USAGE_READ),
    ],
)
def test_each_endpoint_needs_its_scope(client, tenant_a, method, path, scope):
    path = path.format(id=tenant_a.conversation.id)
    others = [s for s in ApiKey.Scope.values if s != scope]
    body = {"text": "hi"} if method == "post" else None
    without = getattr(client, method)(
        path, body, content_type="application/json", **key_header(key_with(tenant_a.tenant, *others))
    )
    assert without.status_code == 403
    assert without.json()["error"] == {"code": "forbidden", "message": f"This API key lacks the scope {scope}."}
    with_scope = getattr(client, method)(
        path, body, content_type="application/json", **key_header(key_with(tenant_a.tenant, scope))
    )
    assert with_scope.status_code in (200, 201)


def test_other_methods_are_405(client, tenant_a):
    response = client.delete(f"/api/v2/conversations/{tenant_a.conversation.id}/", **key_header(tenant_a.key))
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    response = client.options("/api/v2/conversations/", **key_header(tenant_a.key))
    assert response.status_code == 405


def test_every_handler_declares_its_scopes():
    from django.urls import get_resolver

    from chatorical.drf import TenantApiView

    views = [
        pattern.callback.view_class
        for pattern in get_resolver("chatorical.urls_api").url_patterns
        if issubclass(getattr(pattern.callback, "view_class", object), TenantApiView)
    ]
    assert len(views) == 7 + 7  # conversations, exports, usage; templates and strings
    for view in views:
        handlers = {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)}
        assert handlers == set(view.required_scopes), view.__name__


def test_schema_lists_every_operation_and_the_key_scheme(client):
    response = client.get("/api/v2/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert operations == {
        ("/api/v2/conversations/", "get"),
        ("/api/v2/conversations/{conversation_id}/", "get"),
        ("/api/v2/conversations/{conversation_id}/messages/", "get"),
        ("/api/v2/conversations/{conversation_id}/messages/", "post"),
        ("/api/v2/conversations/{conversation_id}/close/", "post"),
        ("/api/v2/exports/", "get"),
        ("/api/v2/exports/{conversation_id}/", "get"),
        ("/api/v2/usage/", "get"),
        ("/api/v2/templates/", "get"),
        ("/api/v2/templates/", "post"),
        ("/api/v2/templates/{id}/", "get"),
        ("/api/v2/templates/{id}/", "put"),
        ("/api/v2/templates/{id}/", "patch"),
        ("/api/v2/templates/{id}/", "delete"),
        ("/api/v2/templates/preview/", "post"),
        ("/api/v2/templates/catalog/", "get"),
        ("/api/v2/strings/", "get"),
        ("/api/v2/strings/", "post"),
        ("/api/v2/strings/{id}/", "get"),
        ("/api/v2/strings/{id}/", "put"),
        ("/api/v2/strings/{id}/", "patch"),
        ("/api/v2/strings/{id}/", "delete"),
        ("/api/v2/strings/catalog/", "get"),
        ("/api/v2/conversations/{conversation_id}/erase", "post"),
        ("/api/v2/conversations/{conversation_id}/export", "get"),
        ("/api/v2/exports/stream", "get"),
        ("/api/v2/audit/", "get"),
        ("/api/v2/audit/export", "get"),
    }
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["in"] == "header"
    for path, item in schema["paths"].items():
        for operation in item.values():
            assert operation["security"] == [{"ApiKeyAuth": []}], path
            assert {"401", "403"} <= set(operation["responses"]), path


def test_schema_validates():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    validate_schema(SchemaGenerator().get_schema(request=None, public=True))


def test_log_lines_of_an_api_request_carry_tenant_and_request_id(client, tenant_a):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("conversations.api.integration")
    logger.addHandler(handler)
    try:
        url = f"/api/v2/conversations/{tenant_a.conversation.id}/messages/"
        response = client.post(
            url, {"text": "hi"}, content_type="application/json", HTTP_X_REQUEST_ID="req-42", **key_header(tenant_a.key)
        )
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 201
    assert response["X-Request-Id"] == "req-42"
    assert records, "the API logged nothing"
    assert all(r.tenant_id == tenant_a.tenant.id and r.request_id == "req-42" for r in records)


def test_djangos_error_response_lines_carry_them_too(client, tenant_a, caplog):
    context = ContextFilter()
    caplog.handler.addFilter(context)  # pytest keeps this handler for the session
    try:
        client.get(f"/api/v2/conversations/{uuid.uuid4()}/", HTTP_X_REQUEST_ID="req-404", **key_header(tenant_a.key))
        client.get("/api/v2/usage/", HTTP_X_REQUEST_ID="req-401")
    finally:
        caplog.handler.removeFilter(context)
    by_request = {r.request_id: r for r in caplog.records if r.name == "django.request"}
    assert by_request["req-404"].tenant_id == tenant_a.tenant.id
    assert by_request["req-401"].tenant_id == "-"  # no key, no tenant


def test_no_conversation_leaks_into_context_after_the_request(client, tenant_a):
    client.get("/api/v2/conversations/", **key_header(tenant_a.key))
    assert tenancy.current_scope() is None
    with pytest.raises(tenancy.TenantContextMissing):
        Conversation.objects.count()


def test_api_keys_are_limited_per_key_and_per_tenant(client, tenant_a):
    tenant = tenant_a.tenant
    tenant.rate_limits = {"api_key": {"key": {"limit": 2, "period": 60}, "tenant": {"limit": 3, "period": 60}}}
    tenant.save()
    first, second = tenant_a.key, key_with(tenant, ApiKey.Scope.CONVERSATIONS_READ)
    statuses = [client.get("/api/v2/conversations/", **key_header(first)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get("/api/v2/conversations/", **key_header(second)).status_code == 200
    refused = client.get("/api/v2/conversations/", **key_header(second))
    assert refused.status_code == 429, "the tenant's budget of 3 is spent"
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
