"""The sandbox support group of `make run`: a conversation's topic, header and Claim button
appear in it, and what the developer does there reaches the visitor through the real
webhook path (header secret included)."""

import json

import httpx
import pytest
from websockets.sync.client import connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]


def visitor_messages(deployment, started) -> list[dict]:
    response = httpx.get(
        f"{deployment.server.url}/v1/conversations/{started['conversation_id']}/messages",
        headers={"Authorization": f"Bearer {started['token']}"},
        timeout=10,
    )
    return response.json()["messages"]


def test_claim_reply_note_and_close_from_the_support_group_page(tenant_a, sandbox_deployment):
    deployment = sandbox_deployment
    # Another tenant's visitor: the sandbox is the default tenant's bot, so no topic of theirs appears there.
    other = httpx.post(
        f"{deployment.server.url}/v2/tenants/tenant-a/conversations",
        json={"name": "Eve"},
        headers={"Origin": "https://tenant-a.example"},
        timeout=10,
    )
    assert other.status_code == 201, other.text
    started = httpx.post(f"{deployment.server.url}/v1/start", json={"name": "Ada"}, timeout=10).json()

    header = deployment.header("Ada")
    assert header["buttons"] == [{"text": "Claim", "data": header["buttons"][0]["data"]}]
    assert header["buttons"][0]["text"] == "Claim" and "Visitor: Ada" in header["text"]
    thread_id = deployment.topic("Ada")["thread_id"]

    pressed = deployment.act("press", {"message_id": header["message_id"], "data": header["buttons"][0]["data"]})
    assert pressed.status_code == 200, pressed.text
    deployment.wait_for(lambda: "claimed by sam_agent" in deployment.header("Ada")["text"], "the claim")

    assert deployment.act("message", {"thread_id": thread_id, "text": "Hello Ada"}).status_code == 200
    reply = {"direction": "OUTBOUND", "text": "Hello Ada", "agent": "sam_agent"}
    deployment.wait_for(lambda: reply in visitor_messages(deployment, started), "the reply to reach the visitor")

    deployment.act("message", {"thread_id": thread_id, "text": "/note wants a refund"})
    deployment.wait_for(lambda: "wants a refund" in deployment.topic("Ada")["name"], "the note in the topic title")
    assert all("wants a refund" not in m["text"] for m in visitor_messages(deployment, started))

    deployment.act("message", {"thread_id": thread_id, "text": "/close"})
    deployment.wait_for(lambda: deployment.topic("Ada")["closed"], "the topic to close")
    assert deployment.state()["deliveries"][0]["status"] == 200
    assert all(delivery.get("status") == 200 for delivery in deployment.state()["deliveries"])
    assert [topic["name"] for topic in deployment.state()["topics"]] == [deployment.topic("Ada")["name"]]


def test_a_topic_deleted_in_the_group_is_replaced_when_the_visitor_writes(sandbox_deployment):
    deployment = sandbox_deployment
    started = httpx.post(f"{deployment.server.url}/v1/start", json={"name": "Bob"}, timeout=10).json()
    deployment.header("Bob")
    old_thread = deployment.topic("Bob")["thread_id"]
    assert deployment.act("delete-topic", {"thread_id": old_thread}).json() == {"ok": True}
    assert deployment.topic("Bob") is None

    with connect(f"{deployment.server.ws_url}/v1/ws?token={started['token']}", open_timeout=10) as socket:
        socket.send(json.dumps({"type": "message", "text": "anyone there?"}))
        socket.recv(timeout=10)

    def replaced():
        topic = deployment.topic("Bob")
        return topic and any(m.get("text") == "anyone there?" for m in topic["messages"]) and topic

    topic = deployment.wait_for(replaced, "a new topic with the visitor's message")
    assert topic["thread_id"] != old_thread


def test_the_page_api_refuses_a_request_without_the_csrf_token(sandbox_deployment):
    response = httpx.post(
        f"{sandbox_deployment.server.url}/dev/support-group/api/message", json={"thread_id": 2, "text": "x"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
