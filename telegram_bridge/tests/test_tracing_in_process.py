"""Traces with the SDK's in-memory exporter, in this process: a socket frame, its stored
event, the worker's handling and the Bot API call; log lines carry the trace."""

import logging

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chatorical import tenancy, tracing
from chatorical.asgi import application
from chatorical.logs import ContextFilter
from conversations.models import Message
from conversations.tests.factories import start, token_for

pytestmark = pytest.mark.django_db(transaction=True)

_exporter = InMemorySpanExporter()


@pytest.fixture
def spans():
    """Tracing on for one test; the SDK's global provider stays, the rest is undone."""
    assert not tracing.enabled()
    tracing.configure(exporter=_exporter)
    _exporter.clear()
    yield _exporter
    for instrumentor in (
        DjangoInstrumentor,
        CeleryInstrumentor,
        PsycopgInstrumentor,
        RedisInstrumentor,
        HTTPXClientInstrumentor,
    ):
        instrumentor().uninstrument()
    tracing._tracer = None
    # Connections opened meanwhile keep traced cursors: the next tests get new ones.
    connections.close_all()


def message_of(conversation) -> Message:
    """The message log is the outbox of messages: the message carries its trace."""
    with tenancy.tenant_context(conversation.tenant):
        return Message.objects.filter(conversation=conversation).get()


def by_name(exporter, name):
    return [span for span in exporter.get_finished_spans() if span.name == name]


async def test_a_frame_is_the_parent_of_its_delivery_to_telegram(client, agents, spans):
    conversation = await database_sync_to_async(start)(client, name="Ada")
    await database_sync_to_async(agents.drain)(conversation)
    token = await database_sync_to_async(token_for)(conversation)
    socket = WebsocketCommunicator(application, f"/v1/ws?token={token}")
    assert (await socket.connect())[0]
    await socket.receive_json_from()  # welcome
    await socket.send_json_to({"type": "message", "text": "a private matter"})
    assert (await socket.receive_json_from())["text"] == "a private matter"
    await socket.disconnect()

    [frame] = by_name(spans, "ws frame")
    message = await database_sync_to_async(message_of)(conversation)
    assert message.traceparent.startswith(f"00-{frame.context.trace_id:032x}-{frame.context.span_id:016x}-")

    await database_sync_to_async(agents.drain)(conversation)
    [handled] = by_name(spans, "outbox MessageAdded")
    assert handled.parent.span_id == frame.context.span_id
    assert handled.context.trace_id == frame.context.trace_id
    [post] = [s for s in by_name(spans, "telegram sendMessage") if s.parent.span_id == handled.context.span_id]
    [http_call] = [
        s for s in spans.get_finished_spans() if s.name == "POST" and s.parent.span_id == post.context.span_id
    ]
    url = http_call.attributes.get("url.full") or http_call.attributes.get("http.url")
    assert url.endswith("/bot<redacted>/sendMessage")

    for span in (frame, handled, post, http_call):
        assert span.attributes["tenant"] == "default"
    for span in spans.get_finished_spans():
        assert not any("a private matter" in str(value) for value in span.attributes.values()), span.name
        assert not any(str(conversation.pk) in str(value) for value in span.attributes.values()), span.name


def test_log_lines_carry_the_trace_and_the_tenant(spans, default_tenant):
    record = logging.makeLogRecord({"msg": "inside"})
    with tracing.span("work"), tenancy.tenant_context(default_tenant):
        ContextFilter().filter(record)
    [work] = by_name(spans, "work")
    assert record.trace_id == f"{work.context.trace_id:032x}"
    assert record.span_id == f"{work.context.span_id:016x}"
    assert record.tenant == "default"
    assert work.attributes["tenant"] == "default"
