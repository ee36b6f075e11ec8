"""The webhook as the ASGI server serves it: beside Django's middleware stack
(chatorical/direct_http.py), with what that stack would have given it."""

import json
import logging

import pytest
from asgiref.sync import sync_to_async
from channels.testing import ApplicationCommunicator
from django.test import Client

from chatorical import tenancy
from chatorical.direct_http import DirectHttpRouter
from conversations.models import Message
from conversations.tests.factories import start
from telegram_bridge.models import TelegramUpdate
from telegram_bridge.tests.conftest import AGENT, DEFAULT_CHAT_ID, HEADER_SECRET, WEBHOOK_SECRET, topic_of

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = {"X-Telegram-Bot-Api-Secret-Token": HEADER_SECRET}


class DjangoStack:
    """Stands where Django's ASGI handler stands, and records what reached it."""

    def __init__(self):
        self.paths = []

    async def __call__(self, scope, receive, send):
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def http_scope(path, *, method="POST", headers=None) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def request(app, path, *, method="POST", chunks=(b"",), headers=None) -> tuple[int, dict, bytes]:
    communicator = ApplicationCommunicator(app, http_scope(path, method=method, headers=headers))
    for index, chunk in enumerate(chunks):
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1})
    start_message = await communicator.receive_output(10)
    body_message = await communicator.receive_output(10)
    await communicator.wait(1)
    answer_headers = {name.decode().lower(): value.decode() for name, value in start_message["headers"]}
    return start_message["status"], answer_headers, body_message["body"]


def post(app, path, update: dict, **headers):
    body = json.dumps(update).encode()
    return request(app, path, chunks=(body,), headers={**SECRET, "Content-Length": str(len(body)), **headers})


@sync_to_async
def claimed_topic(agents):
    conversation = start(Client(), name="Ada")
    agents.drain(conversation)
    agents.press_claim(conversation)
    return topic_of(conversation).thread_id


@sync_to_async
def outbound_texts(tenant):
    with tenancy.tenant_context(tenant):
        return list(Message.objects.filter(direction="OUTBOUND").values_list("text", flat=True))


@sync_to_async
def stored_updates(tenant):
    with tenancy.tenant_context(tenant):
        return list(TelegramUpdate.objects.values_list("update_id", "processed_at"))


async def test_an_agent_reply_is_answered_without_django_s_stack(agents):
    thread_id = await claimed_topic(agents)
    update = agents.fake.add_user_message(DEFAULT_CHAT_ID, "hello from Telegram", thread_id=thread_id, user=AGENT)
    django_stack = DjangoStack()
    status, headers, body = await post(DirectHttpRouter(django_stack), "/v1/telegram/webhook", update)
    assert (status, json.loads(body)) == (200, {"ok": True})
    assert django_stack.paths == []
    assert await outbound_texts(agents.tenant) == ["hello from Telegram"]
    # What Django's stack adds to every answer, this path adds too.
    assert len(headers["x-request-id"]) == 32
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)


async def test_every_other_request_goes_to_django_s_stack(agents):
    django_stack = DjangoStack()
    router = DirectHttpRouter(django_stack)
    for path in ("/health", "/v1/start", "/no/such/path"):
        status, _, _ = await request(router, path)
        assert status == 204
    assert django_stack.paths == ["/health", "/v1/start", "/no/such/path"]


async def test_the_request_id_a_proxy_gave_is_kept(agents):
    _, headers, _ = await post(
        DirectHttpRouter(DjangoStack()), "/v1/telegram/webhook", {"update_id": 1}, **{"X-Request-Id": "from-nginx-7"}
    )
    assert headers["x-request-id"] == "from-nginx-7"


async def test_a_body_past_the_limit_is_refused_declared_or_streamed(agents, settings):
    settings.REQUEST_BODY_MAX_BYTES = 100
    router = DirectHttpRouter(DjangoStack())
    declared = await request(
        router, "/v1/telegram/webhook", chunks=(b"{}",), headers={**SECRET, "Content-Length": "101"}
    )
    streamed = await request(router, "/v1/telegram/webhook", chunks=(b"x" * 60, b"x" * 60), headers=SECRET)
    for status, _, body in (declared, streamed):
        assert status == 413
        assert json.loads(body)["error"]["code"] == "body_too_large"
    assert await stored_updates(agents.tenant) == []


async def test_a_crash_is_a_json_500_and_logged(agents, monkeypatch, caplog):
    from telegram_bridge.api import webhook

    def crash(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(webhook, "_receive", crash)
    with caplog.at_level(logging.ERROR):
        status, _, body = await post(DirectHttpRouter(DjangoStack()), "/v1/telegram/webhook", {"update_id": 1})
    assert status == 500
    assert json.loads(body)["error"]["code"] == "internal_error"
    assert "a bug" in caplog.text


async def test_a_get_is_refused_as_django_s_stack_refuses_it(agents):
    status, _, body = await request(DirectHttpRouter(DjangoStack()), "/v1/telegram/webhook", method="GET")
    assert status == 405
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


async def test_the_v2_path_acts_for_the_tenant_its_secret_names_and_no_other(agents, other_tenant):
    router = DirectHttpRouter(DjangoStack())
    status, _, _ = await post(router, f"/v2/telegram/webhook/{WEBHOOK_SECRET}", {"update_id": 5})
    assert status == 200
    assert [update_id for update_id, _ in await stored_updates(agents.tenant)] == [5]
    assert await stored_updates(other_tenant) == []
    status, _, body = await post(router, f"/v2/telegram/webhook/{'x' * 40}", {"update_id": 6})
    assert (status, json.loads(body)["error"]["code"]) == (403, "forbidden")
    assert [update_id for update_id, _ in await stored_updates(agents.tenant)] == [5]


async def test_a_client_gone_before_its_body_is_in_gets_nothing_done(agents):
    body = json.dumps({"update_id": 8}).encode()
    scope = http_scope("/v1/telegram/webhook", headers={**SECRET, "Content-Length": str(len(body))})
    communicator = ApplicationCommunicator(DirectHttpRouter(DjangoStack()), scope)
    await communicator.send_input({"type": "http.request", "body": body[:5], "more_body": True})
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(5)
    assert await communicator.receive_nothing()
    assert await stored_updates(agents.tenant) == []
