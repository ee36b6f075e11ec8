"""Usage counted exactly while many processes write at once: two daphne instances and a
Celery worker, 20 sockets sending 1,000 visitor messages, and agents answering from the
test's own process meanwhile. The counters must equal the rows."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets
from django.db import connections
from django.db.models import Count

from billing import selectors
from chatorical import tenancy
from chatorical.testing import WorkerProcess
from conversations.models import Conversation, Message
from conversations.tests.factories import conversation_for, message_for, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

SOCKETS = 20
MESSAGES_PER_SOCKET = 50
AGENT_MESSAGES = 100


async def receive(socket) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), 30))


async def chat(url: str, token: str, label: str) -> int:
    """Sends the socket's messages as fast as it can; returns how many echoes of its own came back."""
    async with websockets.connect(f"{url}/v1/ws?token={token}") as socket:
        assert [(await receive(socket))["key"] for _ in range(2)] == ["welcome", "offline"]
        for number in range(MESSAGES_PER_SOCKET):
            await socket.send(json.dumps({"type": "message", "text": f"{label} {number}"}))
        echoed = 0
        while echoed < MESSAGES_PER_SOCKET:
            event = await receive(socket)
            assert event.get("type") != "info_note", event
            if event.get("direction") == "INBOUND":
                echoed += 1
        return echoed


def agent_answers(conversations) -> None:
    def answer(number: int) -> None:
        try:
            message_for(
                conversations[number % len(conversations)],
                text=f"agent {number}",
                direction=Message.Direction.OUTBOUND,
                agent_name="Grace",
            )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(answer, range(AGENT_MESSAGES)))


def test_counters_equal_the_rows_with_two_instances_a_worker_and_agents(default_tenant, start_server, tmp_path):
    conversations = [conversation_for(default_tenant, visitor_name=f"V{i}") for i in range(SOCKETS)]
    tokens = [token_for(conversation) for conversation in conversations]
    servers = [start_server(RATE_LIMIT_SCALE=1000), start_server(RATE_LIMIT_SCALE=1000)]
    worker = WorkerProcess(tmp_path)
    try:
        chats = [chat(servers[index % 2].ws_url, token, f"s{index}") for index, token in enumerate(tokens)]

        async def everyone():
            return await asyncio.gather(asyncio.gather(*chats), asyncio.to_thread(agent_answers, conversations))

        echoed, _ = asyncio.run(everyone())
    finally:
        worker.stop()
    assert sum(echoed) == SOCKETS * MESSAGES_PER_SOCKET

    with tenancy.tenant_context(default_tenant):
        rows = dict(Message.objects.values("direction").annotate(n=Count("id")).values_list("direction", "n"))
        counters = selectors.usage_counts(period=selectors.billing_period(tenant=default_tenant))
        writers = selectors.usage_counter_sessions()
        conversation_rows = Conversation.objects.count()
    assert rows == {"INBOUND": SOCKETS * MESSAGES_PER_SOCKET, "OUTBOUND": AGENT_MESSAGES}
    assert counters["messages_in"] == rows["INBOUND"]
    assert counters["messages_out"] == rows["OUTBOUND"]
    assert counters["conversations"] == conversation_rows == SOCKETS
    # Written by several sessions at once (both daphne processes and the test's threads).
    assert writers >= 3
