import uuid

import jwt
import pytest
from django.conf import settings

from chatorical import tenancy
from conversations import services
from conversations.models import Conversation, Message
from conversations.tests.factories import conversation_for, message_for, token_for
from conversations.tokens import token_decode

pytestmark = pytest.mark.usefixtures("default_tenant")


def start(client, **body):
    return client.post("/v1/start", body, content_type="application/json")


def auth(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_start_creates_a_conversation_and_a_token(client, default_tenant):
    response = start(client, name="Ada", locale="de-AT", page_url="https://shop.example/cart")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"conversation_id", "token"}
    claims = token_decode(body["token"])
    assert claims.conversation_id == body["conversation_id"]
    assert claims.tenant_id == default_tenant.id
    raw = jwt.decode(body["token"], settings.CONVERSATION_JWT_SECRET, algorithms=["HS256"], audience="ws")
    assert raw["exp"] - raw["iat"] == settings.V1_TOKEN_TTL_SECONDS
    assert raw["exp"] - raw["iat"] >= 24 * 3600


def test_start_with_an_empty_body_is_fine(client):
    assert client.post("/v1/start", "", content_type="application/json").status_code == 201


@pytest.mark.parametrize(
    "body, code",
    [
        ({"name": 5}, "invalid_name"),
        ({"name": "x" * 200}, "invalid_name"),
        ({"locale": "not a locale"}, "invalid_locale"),
        ({"page_url": "javascript:alert(1)"}, "invalid_page_url"),
    ],
)
def test_start_refuses_bad_fields(client, body, code):
    response = start(client, **body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    with tenancy.cross_tenant("test: nothing was written for any tenant"):
        assert not Conversation.objects.exists()


def test_start_refuses_broken_json(client):
    response = client.post("/v1/start", "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid_json", "message": "The request body is not valid JSON."}}


def test_wrong_method_is_a_json_405(client):
    response = client.get("/v1/start")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_messages_history_in_v1_shape(client, default_tenant):
    conversation = conversation_for(default_tenant)
    message_for(conversation, text="hi")
    message_for(conversation, text="hello", direction=Message.Direction.OUTBOUND, agent_name="Bob")
    response = client.get(f"/v1/conversations/{conversation.id}/messages", **auth(token_for(conversation)))
    assert response.status_code == 200
    assert response.json() == {
        "messages": [
            {"direction": "INBOUND", "text": "hi"},
            {"direction": "OUTBOUND", "text": "hello", "agent": "Bob"},
        ]
    }


def test_messages_need_a_token(client, default_tenant):
    conversation = conversation_for(default_tenant)
    response = client.get(f"/v1/conversations/{conversation.id}/messages")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"


def test_forged_and_expired_tokens_are_refused(client, default_tenant):
    conversation = conversation_for(default_tenant)
    forged = jwt.encode(
        {"tid": default_tenant.id, "cid": str(conversation.id), "aud": "ws", "iat": 1, "exp": 2**40, "jti": "x"},
        "not-the-secret-but-long-enough-to-sign",
        algorithm="HS256",
    )
    expired = token_for(conversation, ttl_seconds=-10)
    for token in (forged, expired, "garbage"):
        response = client.get(f"/v1/conversations/{conversation.id}/messages", **auth(token))
        assert response.status_code == 401, token


def test_a_token_only_opens_its_own_conversation(client, default_tenant):
    mine, other = conversation_for(default_tenant), conversation_for(default_tenant)
    response = client.get(f"/v1/conversations/{other.id}/messages", **auth(token_for(mine)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "token_mismatch"


def test_malformed_conversation_id_is_refused(client, default_tenant):
    mine = conversation_for(default_tenant)
    response = client.get("/v1/conversations/not-a-uuid/messages", **auth(token_for(mine)))
    assert response.status_code == 403


def test_other_tenants_token_is_refused_on_v1(client, other_tenant):
    theirs = conversation_for(other_tenant)
    response = client.get(f"/v1/conversations/{theirs.id}/messages", **auth(token_for(theirs)))
    assert response.status_code == 403


def test_token_of_a_deleted_conversation_is_404(client, default_tenant):
    ghost = Conversation(id=uuid.uuid4(), tenant=default_tenant)
    response = client.get(f"/v1/conversations/{ghost.id}/messages", **auth(token_for(ghost)))
    assert response.status_code == 404


def test_rename(client, default_tenant):
    conversation = conversation_for(default_tenant, visitor_name="Ada")
    url = f"/v1/conversations/{conversation.id}/rename"
    response = client.post(
        url, {"name": "  Ada   Lovelace "}, content_type="application/json", **auth(token_for(conversation))
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Ada Lovelace"
    conversation.refresh_from_db()
    assert conversation.visitor_name == "Ada Lovelace"


def test_rename_needs_a_name(client, default_tenant):
    conversation = conversation_for(default_tenant)
    url = f"/v1/conversations/{conversation.id}/rename"
    response = client.post(url, {"name": " "}, content_type="application/json", **auth(token_for(conversation)))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_name"


def test_rename_of_a_closed_conversation_is_a_conflict(client, default_tenant):
    conversation = conversation_for(default_tenant)
    with tenancy.tenant_context(default_tenant):
        services.conversation_close(conversation=conversation)
    url = f"/v1/conversations/{conversation.id}/rename"
    response = client.post(url, {"name": "Late"}, content_type="application/json", **auth(token_for(conversation)))
    assert response.status_code == 409


def test_responses_carry_a_request_id(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-Id"] == "abc-123"
    assert len(client.get("/health", HTTP_X_REQUEST_ID="bad id!")["X-Request-Id"]) == 32
