"""Prod log lines are JSON with the request id, trace and span ids and the tenant."""

import io
import json
import logging

import httpx
import pytest
from channels.testing import WebsocketCommunicator

from chatorical.asgi import application
from chatorical.logs import ContextFilter, JsonFormatter, RedactSecretsFilter
from chatorical.testing import WorkerProcess, eventually
from telegram_bridge.tests.conftest import HEADER_SECRET


@pytest.fixture
def json_lines():
    """What the prod handler (settings.LOGGING with DJANGO_ENV=prod) writes, one dict a line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


@pytest.mark.django_db
def test_a_web_request_logs_its_request_id_and_tenant(client, telegram, json_lines):
    response = client.post(
        "/v1/telegram/webhook",
        "not json",
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=HEADER_SECRET,
        HTTP_X_REQUEST_ID="req-42",
    )
    assert response.json() == {"ok": True} and response["X-Request-Id"] == "req-42"
    [line] = [line for line in json_lines() if line["message"].startswith("unparsable telegram update")]
    assert (line["request_id"], line["tenant"], line["level"]) == ("req-42", "default", "WARNING")
    assert isinstance(line["tenant_id"], int)
    assert (line["trace_id"], line["span_id"]) == ("-", "-")  # tracing is off


@pytest.mark.django_db(transaction=True)
async def test_a_socket_logs_the_request_id_of_its_handshake(json_lines):
    socket = WebsocketCommunicator(application, "/v1/ws?token=forged", headers=[(b"x-request-id", b"sock-7")])
    connected, _ = await socket.connect()
    assert not connected
    [line] = [line for line in json_lines() if line["message"].startswith("ws token refused")]
    assert line["request_id"] == "sock-7"
    assert set(line) >= {"ts", "level", "logger", "message", "request_id", "trace_id", "span_id", "tenant", "tenant_id"}


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
async def test_a_worker_logs_the_request_id_of_the_request_that_queued_its_task(default_tenant, start_server, tmp_path):
    server = start_server()
    worker = WorkerProcess(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post("/v1/start", json={"name": "Ada"}, headers={"X-Request-Id": "req-for-worker"})
        assert response.status_code == 201

        def drain_logged():
            return [
                line
                for line in worker.log_path.read_text().splitlines()
                if "outbox_drain_conversation" in line and "succeeded" in line
            ]

        [line] = await eventually(drain_logged)
        assert "[req=req-for-worker tenant=" in line
    finally:
        worker.stop()
