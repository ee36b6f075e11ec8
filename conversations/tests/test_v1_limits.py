"""Rate limits as widgets and abusers meet them: HTTP, the v1 socket, two server processes."""

import asyncio
import math
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from channels.db import database_sync_to_async

from chatorical import tenancy
from chatorical.testing import free_port
from conversations.models import Conversation, Message
from conversations.tests.factories import conversation_for, rate_limits_set, token_for
from conversations.tests.sockets import v1_open_from

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("default_tenant")]


def start(client, **headers):
    return client.post("/v1/start", {}, content_type="application/json", **headers)


def auth(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def assert_rate_limited(response):
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert response.json()["error"]["message"]
    assert int(response["Retry-After"]) >= 1


def conversations_count():
    with tenancy.cross_tenant("test: count what was created"):
        return Conversation.objects.count()


def test_start_allows_ten_per_ip_a_minute_then_answers_429(client):
    first_sent = time.monotonic()
    statuses = [start(client, REMOTE_ADDR="203.0.113.7").status_code for _ in range(10)]
    assert statuses == [201] * 10
    refused = start(client, REMOTE_ADDR="203.0.113.7")
    taken = time.monotonic() - first_sent
    assert_rate_limited(refused)
    # When the first start leaves the minute: 60 s, less what the starts took on a loaded machine.
    assert 60 - math.floor(taken) <= int(refused["Retry-After"]) <= 60
    assert conversations_count() == 10
    assert start(client, REMOTE_ADDR="203.0.113.8").status_code == 201


def test_forwarded_for_counts_only_behind_a_trusted_proxy(client):
    via_proxy = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.20"}
    assert [start(client, **via_proxy).status_code for _ in range(10)] == [201] * 10
    assert_rate_limited(start(client, **via_proxy))
    # A client cannot buy a fresh budget by prepending addresses of its own...
    assert_rate_limited(start(client, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.20"))
    # ...and a client that is not a proxy is counted as itself, whatever it forwards.
    assert start(client, REMOTE_ADDR="198.51.100.2", HTTP_X_FORWARDED_FOR="203.0.113.21").status_code == 201
    assert start(client, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.21").status_code == 201


def test_repeated_abuse_waits_longer_each_time(client):
    for _ in range(10):
        start(client, REMOTE_ADDR="203.0.113.30")
    waits = [int(start(client, REMOTE_ADDR="203.0.113.30")["Retry-After"]) for _ in range(4)]
    # Told when the first start leaves the minute, then twice what it was told each time.
    assert waits[0] == 60
    for told, retried in zip(waits, waits[1:], strict=False):
        assert 2 * told - 2 <= retried <= 2 * told


def test_rename_allows_three_a_day_per_conversation(client, default_tenant):
    conversation, other = conversation_for(default_tenant), conversation_for(default_tenant)

    def rename(target, name):
        return client.post(
            f"/v1/conversations/{target.id}/rename",
            {"name": name},
            content_type="application/json",
            **auth(token_for(target)),
        )

    assert [rename(conversation, f"Ada {n}").status_code for n in range(3)] == [200] * 3
    refused = rename(conversation, "Ada 4")
    assert_rate_limited(refused)
    assert int(refused["Retry-After"]) == 24 * 3600
    conversation.refresh_from_db()
    assert conversation.visitor_name == "Ada 2"
    assert rename(other, "Bob").status_code == 200


def test_refusals_are_counted_in_metrics_per_tenant_and_limit(client, settings):
    for _ in range(11):
        start(client, REMOTE_ADDR="203.0.113.40")
    metrics = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.SERVICE_TOKEN}").content.decode()
    assert 'chatorical_rate_limited_total{limit="conversation_start",tenant="default"}' in metrics


def test_without_redis_start_fails_closed_and_history_stays_open(client, settings, default_tenant):
    conversation = conversation_for(default_tenant)
    settings.RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{free_port()}/3"

    refused = start(client)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "limiter_unavailable"
    assert conversations_count() == 1

    history = client.get(f"/v1/conversations/{conversation.id}/messages", **auth(token_for(conversation)))
    assert history.status_code == 200 and history.json() == {"messages": []}

    ready = client.get("/ready", HTTP_AUTHORIZATION=f"Bearer {settings.SERVICE_TOKEN}").json()
    assert "rate_limiter" in ready["failing"]


# --- the v1 socket ---------------------------------------------------------------------


async def connect_and_skip_opening(conversation, **kwargs):
    """Connected, past the welcome and the offline note (the tests configure no bot)."""
    socket = await v1_open_from(conversation, **kwargs)
    assert [(await socket.receive_json_from())["key"] for _ in range(2)] == ["welcome", "offline"]
    return socket


def stored_texts(conversation):
    with tenancy.tenant_context(conversation.tenant):
        return list(Message.objects.filter(conversation=conversation).order_by("seq").values_list("text", flat=True))


async def set_rate_limits(tenant, **rate_limits):
    await database_sync_to_async(rate_limits_set)(tenant, **rate_limits)


@pytest.fixture
def conversation(default_tenant):
    return conversation_for(default_tenant, visitor_name="Ada")


async def test_a_message_over_the_limit_gets_a_note_is_not_stored_nor_forwarded(default_tenant, conversation):
    # The default 30 per 10 s, stretched over an hour so no message is refilled during the test.
    await set_rate_limits(default_tenant, ws_message={"socket": {"limit": 30, "period": 3600}})
    sender, watcher = await connect_and_skip_opening(conversation), await connect_and_skip_opening(conversation)
    for n in range(30):
        await sender.send_json_to({"type": "message", "text": f"m{n}"})
        assert (await sender.receive_json_from(timeout=3))["text"] == f"m{n}"
        assert (await watcher.receive_json_from(timeout=3))["text"] == f"m{n}"

    await sender.send_json_to({"type": "message", "text": "one too many"})
    note = await sender.receive_json_from(timeout=3)
    assert set(note) == {"type", "key", "text"}
    assert note["type"] == "info_note" and note["key"] == "rate_limited" and "3600 s" in note["text"]
    assert await watcher.receive_nothing(timeout=0.3)
    assert await database_sync_to_async(stored_texts)(conversation) == [f"m{n}" for n in range(30)]
    await asyncio.gather(sender.disconnect(), watcher.disconnect())


async def test_at_the_default_limit_a_refused_socket_stays_open_and_gets_its_turn_back(default_tenant, conversation):
    # The default 30 frames and penalties, in 1 s instead of 10 s so the turn comes back
    # soon (the default rate itself: chatorical/tests/test_ratelimit.py).
    await set_rate_limits(default_tenant, ws_message={"socket": {"limit": 30, "period": 1}})
    socket = await connect_and_skip_opening(conversation)
    for _ in range(32):
        await socket.send_json_to({"type": "typing"})  # junk frames count as much as messages
    replies = [await socket.receive_json_from(timeout=3) for _ in range(32)]
    assert replies[0]["key"] == "error_unknown_frame" and replies[-1]["key"] == "rate_limited"

    await asyncio.sleep(int(re.search(r"again in (\d+) s", replies[-1]["text"])[1]))
    await socket.send_json_to({"type": "message", "text": "my turn"})
    assert await socket.receive_json_from(timeout=3) == {"direction": "INBOUND", "text": "my turn"}
    await socket.disconnect()


async def test_messages_spread_over_the_period_get_no_more_than_the_limit_in_any_window(default_tenant, conversation):
    """The GCRA this replaced let a socket spread its messages and pass up to twice its
    limit within one period. This socket sends at twice the limit's average rate and waits
    as told when refused. Each message is timed from its send to its answer, so the
    (i + N)th accepted one must be answered at least a period after the ith was sent."""
    limit, period = 5, 2.0
    await set_rate_limits(default_tenant, ws_message={"socket": {"limit": limit, "period": period, "max_block": 0}})
    socket = await connect_and_skip_opening(conversation)
    accepted, refused = [], 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < 2.5 * period:
        sent = loop.time()
        await socket.send_json_to({"type": "message", "text": f"m{sent}"})
        reply = await socket.receive_json_from(timeout=3)
        if reply.get("direction") == "INBOUND":
            accepted.append((sent, loop.time()))
        else:
            assert reply["key"] == "rate_limited"
            refused += 1
            await asyncio.sleep(int(re.search(r"again in (\d+) s", reply["text"])[1]))
        await asyncio.sleep(period / limit / 2)
    assert len(accepted) > limit and refused > 0
    for (first_sent, _), (_, last_answered) in zip(accepted, accepted[limit:], strict=False):
        assert last_answered - first_sent >= period
    assert len(await database_sync_to_async(stored_texts)(conversation)) == len(accepted)
    await socket.disconnect()


async def test_a_socket_that_keeps_flooding_is_closed_with_4429(default_tenant, conversation):
    await set_rate_limits(default_tenant, ws_message={"socket": {"limit": 2, "period": 3600}})
    socket = await connect_and_skip_opening(conversation)
    for n in range(2):
        await socket.send_json_to({"type": "message", "text": f"flood {n}"})
        assert (await socket.receive_json_from(timeout=3))["text"] == f"flood {n}"
    for n in range(2, 8):
        await socket.send_json_to({"type": "message", "text": f"flood {n}"})
    notes = [await socket.receive_json_from(timeout=3) for _ in range(6)]
    assert [note["key"] for note in notes] == ["rate_limited"] * 6
    closed = await socket.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4429}
    assert await database_sync_to_async(stored_texts)(conversation) == ["flood 0", "flood 1"]


async def test_connections_per_ip_are_limited_with_a_note_and_4429(default_tenant, conversation):
    await set_rate_limits(default_tenant, ws_connect={"ip": {"limit": 2}})
    sockets = [await connect_and_skip_opening(conversation, forwarded_for="203.0.113.70") for _ in range(2)]
    refused = await v1_open_from(conversation, forwarded_for="203.0.113.70")
    note = await refused.receive_json_from(timeout=3)
    assert (note["type"], note["key"]) == ("info_note", "rate_limited")
    assert await refused.receive_output(timeout=3) == {"type": "websocket.close", "code": 4429}
    sockets.append(await connect_and_skip_opening(conversation, forwarded_for="203.0.113.71"))
    await asyncio.gather(*(socket.disconnect() for socket in sockets))


async def test_without_redis_a_message_gets_a_note_and_is_not_stored(settings, conversation):
    socket = await connect_and_skip_opening(conversation)
    settings.RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{free_port()}/3"
    await socket.send_json_to({"type": "message", "text": "during the outage"})
    note = await socket.receive_json_from(timeout=3)
    assert (note["type"], note["key"]) == ("info_note", "limiter_unavailable")
    assert await database_sync_to_async(stored_texts)(conversation) == []
    await socket.disconnect()


# --- two server processes ----------------------------------------------------------------


@pytest.fixture
def two_servers(start_server):
    env = {"RATE_LIMIT_SCALE": "1", "TRUSTED_PROXIES": "127.0.0.1/32,::1/128"}
    return start_server(**env), start_server(**env)


@pytest.mark.processes
def test_two_server_processes_share_one_limit(two_servers):
    headers = {"X-Forwarded-For": "203.0.113.80"}
    responses = [httpx.post(f"{two_servers[n % 2].url}/v1/start", json={}, headers=headers) for n in range(14)]
    assert [r.status_code for r in responses] == [201] * 10 + [429] * 4
    for refused in responses[10:]:
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1


@pytest.mark.processes
def test_parallel_starts_on_two_processes_never_exceed_the_limit(two_servers):
    headers = {"X-Forwarded-For": "203.0.113.81"}

    def post(n):
        return httpx.post(f"{two_servers[n % 2].url}/v1/start", json={}, headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(post, range(40)))
    assert sorted(statuses) == [201] * 10 + [429] * 30
