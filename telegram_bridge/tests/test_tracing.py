"""One trace from the widget to Telegram and one from Telegram to the widget, across a real
daphne and a real prefork worker exporting with the SDK's OTLP exporter."""

import asyncio
import json

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async
from django.conf import settings

from chatorical import tenancy
from chatorical.testing import OtlpReceiver, WorkerProcess, eventually
from telegram_bridge.models import TelegramTopic
from telegram_bridge.tests.conftest import AGENT, DEFAULT_CHAT_ID, HEADER_SECRET, processes_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

SECRET_TEXT = "my card number is 4111"


@pytest.fixture
def receiver():
    otlp = OtlpReceiver()
    yield otlp
    otlp.close()


def receive(socket):
    return asyncio.wait_for(socket.recv(), 20)


def child_of(parent: dict, candidates: list[dict]) -> dict | None:
    return next(
        (s for s in candidates if s["trace_id"] == parent["trace_id"] and s["parent_span_id"] == parent["span_id"]),
        None,
    )


def topic_row(conversation_id) -> TelegramTopic:
    with tenancy.cross_tenant("test: read the topic the processes wrote"):
        return TelegramTopic.objects.get(pk=conversation_id)


async def test_traces_follow_a_message_both_ways(telegram, start_server, tmp_path, receiver):
    telegram.set_limits(group_per_minute=None, bot_per_second=None)
    env = processes_env(telegram, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_BSP_SCHEDULE_DELAY=100)
    server = start_server(OTEL_SERVICE_NAME="daphne", **env)
    worker = WorkerProcess(tmp_path, pool="prefork", OTEL_SERVICE_NAME="worker", **env)
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            started = (await client.post("/v1/start", json={"name": "Ada"})).json()
            bearer = {"Authorization": f"Bearer {started['token']}"}
            history = await client.get(f"/v1/conversations/{started['conversation_id']}/messages", headers=bearer)
            assert history.status_code == 200
            async with websockets.connect(f"{server.ws_url}/v1/ws?token={started['token']}") as socket:
                assert json.loads(await receive(socket))["key"] == "welcome"
                await eventually(lambda: telegram.topics(DEFAULT_CHAT_ID))

                # Widget -> Telegram.
                await socket.send(json.dumps({"type": "message", "text": SECRET_TEXT}))
                assert json.loads(await receive(socket))["text"] == SECRET_TEXT
                frame = (await eventually(lambda: receiver.named("ws frame")))[0]
                outbox = await eventually(lambda: child_of(frame, receiver.named("outbox MessageAdded")))
                post = await eventually(lambda: child_of(outbox, receiver.named("telegram sendMessage")))
                http_call = await eventually(lambda: child_of(post, receiver.named("POST")))
                assert (frame["service"], outbox["service"], post["service"]) == ("daphne", "worker", "worker")
                status = http_call["attributes"].get("http.response.status_code", http_call["attributes"].get(
                    "http.status_code"))  # fmt: skip
                assert str(status) == "200"
                connect = receiver.named("ws connect")[0]
                assert connect["attributes"]["tenant"] == "default"

                # Telegram -> widget: the claim, then the agent's answer.
                topic = await database_sync_to_async(topic_row)(started["conversation_id"])
                headers = {"X-Telegram-Bot-Api-Secret-Token": HEADER_SECRET}
                claim = telegram.press_button(DEFAULT_CHAT_ID, topic.header_message_id, user=AGENT)
                assert (await client.post("/v1/telegram/webhook", json=claim, headers=headers)).status_code == 200
                assert json.loads(await receive(socket))["type"] == "agent_joined"
                answer = telegram.add_user_message(DEFAULT_CHAT_ID, "on it", thread_id=topic.thread_id, user=AGENT)
                response = await client.post("/v1/telegram/webhook", json=answer, headers=headers)
                assert response.status_code == 200
                assert json.loads(await receive(socket))["text"] == "on it"

        def agent_send():
            for update in receiver.named("telegram update"):
                sent = child_of(update, receiver.named("ws send"))
                if sent and sent["attributes"].get("tenant") == "default":
                    webhook = [s for s in receiver.spans if s["span_id"] == update["parent_span_id"]]
                    if webhook:
                        return webhook[0], update, sent
            return None

        webhook, update, sent = await eventually(agent_send)
        assert webhook["service"] == "daphne" and "webhook" in webhook["name"]
        # The webhook's request processes the update it stored.
        assert (update["service"], sent["service"]) == ("daphne", "daphne")
        assert webhook["trace_id"] == update["trace_id"] == sent["trace_id"]

        [history_span] = [s for s in receiver.spans if s["name"].startswith("GET") and "messages" in s["name"]]
        url_attributes = {k: v for k, v in history_span["attributes"].items() if k.startswith(("http.target", "url."))}
        assert set(url_attributes.values()) == {"/v1/conversations/<str:conversation_id>/messages"}, url_attributes

        for span in (frame, outbox, post, update, sent):
            assert span["attributes"]["tenant"] == "default", span
        for span in receiver.spans:
            values = " ".join(str(value) for value in span["attributes"].values())
            assert SECRET_TEXT not in values and started["conversation_id"] not in values, span
            assert settings.BOT_TOKEN.split(":")[1] not in values and "on it" not in values, span
    finally:
        worker.stop()
