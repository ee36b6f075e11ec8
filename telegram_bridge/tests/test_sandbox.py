"""The Bot API sandbox's page API, over HTTP, with a real webhook receiver standing in for the app."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from telegram_bridge.sandbox import AGENT, Sandbox

TOKEN = "7000000009:SandboxTestTokenOnly-0123456789abcdef"
GROUP = -1009000000099


class _Receiver(BaseHTTPRequestHandler):
    received: list
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), json.loads(body)))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_receiver():
    received = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox():
    box = Sandbox(bot_token=TOKEN, group_id=GROUP).start()
    yield box
    box.stop()


def bot_call(box, method, **params):
    return httpx.post(f"{box.base_url}/bot{TOKEN}/{method}", json=params, timeout=5).json()


def page(box, action, body=None):
    if body is None:
        return httpx.get(f"{box.base_url}/sandbox/{action}", timeout=5)
    return httpx.post(f"{box.base_url}/sandbox/{action}", json=body, timeout=5)


def open_topic(box):
    """What the app's worker does for a new conversation: topic, header with Claim, pinned."""
    topic = bot_call(box, "createForumTopic", chat_id=GROUP, name="Ada")["result"]
    header = bot_call(
        box,
        "sendMessage",
        chat_id=GROUP,
        message_thread_id=topic["message_thread_id"],
        text="New conversation\nVisitor: Ada",
        reply_markup={"inline_keyboard": [[{"text": "Claim", "callback_data": "claim:abc"}]]},
    )["result"]
    assert bot_call(box, "pinChatMessage", chat_id=GROUP, message_id=header["message_id"])["ok"]
    return topic["message_thread_id"], header["message_id"]


def test_state_shows_topics_with_their_pinned_header_and_buttons(sandbox):
    thread_id, header_id = open_topic(sandbox)
    state = page(sandbox, "state").json()
    assert state["group"] == {"id": GROUP, "title": "Support (sandbox)"}
    assert state["webhook"] is None
    [topic] = state["topics"]
    assert (topic["thread_id"], topic["name"], topic["closed"]) == (thread_id, "Ada", False)
    service, header = topic["messages"]
    assert service["service"] == "topic created: Ada"
    assert header["message_id"] == header_id and header["pinned"] and header["is_bot"]
    assert header["buttons"] == [{"text": "Claim", "data": "claim:abc"}]


def test_the_bot_api_stays_strict(sandbox):
    refused = bot_call(sandbox, "sendMessage", chat_id=GROUP, text="hi", not_a_field=1)
    assert refused["ok"] is False and "unknown parameter" in refused["description"]


def test_actions_reach_the_webhook_in_order_with_the_header_secret(sandbox, webhook_receiver):
    url, received = webhook_receiver
    assert bot_call(sandbox, "setWebhook", url=url, secret_token="s3cret-header")["ok"]
    thread_id, header_id = open_topic(sandbox)

    pressed = page(sandbox, "press", {"message_id": header_id, "data": "claim:abc"}).json()
    said = page(sandbox, "message", {"thread_id": thread_id, "text": "Hello Ada"}).json()
    closed = page(sandbox, "message", {"thread_id": thread_id, "text": "/close"}).json()
    sandbox.wait_delivered()

    assert [update["update_id"] for _, update in received] == [
        pressed["update_id"],
        said["update_id"],
        closed["update_id"],
    ]
    assert {secret for secret, _ in received} == {"s3cret-header"}
    press, message, _ = (update for _, update in received)
    assert press["callback_query"]["data"] == "claim:abc" and press["callback_query"]["from"] == AGENT
    assert message["message"]["text"] == "Hello Ada"
    assert message["message"]["message_thread_id"] == thread_id and message["message"]["is_topic_message"]
    deliveries = page(sandbox, "state").json()["deliveries"]
    assert [d["status"] for d in deliveries] == [200, 200, 200]


def test_a_refused_update_is_retried_and_reported(sandbox, webhook_receiver):
    url, received = webhook_receiver
    _Receiver.status = 403
    try:
        bot_call(sandbox, "setWebhook", url=url, secret_token="wrong")
        thread_id, _ = open_topic(sandbox)
        page(sandbox, "message", {"thread_id": thread_id, "text": "hi"})
        sandbox.wait_delivered()
    finally:
        _Receiver.status = 200
    assert len(received) == 3  # Telegram retries a refused update too
    assert page(sandbox, "state").json()["deliveries"][0]["status"] == 403


def test_a_deleted_topic_disappears_and_refuses_messages(sandbox):
    thread_id, _ = open_topic(sandbox)
    assert page(sandbox, "delete-topic", {"thread_id": thread_id}).json() == {"ok": True}
    assert page(sandbox, "state").json()["topics"] == []
    refused = page(sandbox, "message", {"thread_id": thread_id, "text": "still there?"})
    assert refused.status_code == 400
    assert refused.json()["error"] == {"code": "telegram_refused", "message": "Bad Request: message thread not found"}
    # The bot finds out as in Telegram: its next post into the topic fails.
    sent = bot_call(sandbox, "sendMessage", chat_id=GROUP, message_thread_id=thread_id, text="x")
    assert sent["description"] == "Bad Request: message thread not found"


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        ("message", {"thread_id": "2", "text": "hi"}, "invalid_field"),
        ("message", {"thread_id": 2, "text": "   "}, "invalid_field"),
        ("press", {"message_id": 999}, "invalid_target"),
        ("launch", {}, "unknown_action"),
    ],
)
def test_bad_page_requests_get_a_json_error(sandbox, action, body, code):
    response = page(sandbox, action, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_a_body_that_is_not_a_json_object_is_refused(sandbox):
    response = httpx.post(f"{sandbox.base_url}/sandbox/message", content=b"[1]", timeout=5)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_json")
