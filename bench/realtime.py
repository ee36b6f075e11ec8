"""Real-time benchmark, run by hand: `.venv/bin/python bench/realtime.py` (or `make bench`).

Boots two daphne instances, a Celery worker and the fake Bot API (its limits off) against
PostgreSQL and Redis, then measures, all cross-instance with persistence and auth on:

- fan-out: N conversations, the visitor's socket on instance A and a second socket of the
  same conversation on instance B; visitors send at a fixed total rate for a while and B
  measures latency. A ladder of rates until messages are lost or p99 passes 250 ms.
- agent -> widget: webhook updates of claimed agents posted to A at a fixed rate, widgets
  on B: latency from POST to frame.
- idle sockets: authenticated idle sockets per instance -> KB of RSS per socket.

The load generator runs in this process; its CPU use is reported beside each step, so a
saturated generator is visible rather than mistaken for a slow server.
"""

import asyncio
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import harness

harness.setup()

import httpx  # noqa: E402
import websockets  # noqa: E402

from chatorical import tenancy  # noqa: E402
from chatorical.testing import ServerProcess, WorkerProcess  # noqa: E402
from conversations import services  # noqa: E402
from conversations.models import Conversation, OutboxEvent  # noqa: E402
from telegram_bridge.testing.fixtures import DEFAULT_CHAT_ID  # noqa: E402
from tenants.selectors import tenant_get_default  # noqa: E402

CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", 100))
LADDER = [int(r) for r in os.environ.get("BENCH_LADDER", "200,500,700,1000,2000").split(",")]
STEP_SECONDS = float(os.environ.get("BENCH_STEP_SECONDS", 15))
AGENT_RATE = int(os.environ.get("BENCH_AGENT_RATE", 50))
IDLE_SOCKETS = int(os.environ.get("BENCH_IDLE_SOCKETS", 2000))
P99_LIMIT_MS = 250


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_conversations(server: ServerProcess, count: int) -> list[dict]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return [client.post("/v1/start", json={"name": f"Bench {i}"}).json() for i in range(count)]


async def open_socket(server: ServerProcess, token: str):
    socket = await websockets.connect(f"{server.ws_url}/v1/ws?token={token}", max_queue=None, open_timeout=30)
    welcome = json.loads(await socket.recv())
    assert welcome.get("key") == "welcome", welcome
    return socket


async def fan_out_step(pairs, rate: int, seconds: float, processes: dict) -> dict:
    """Visitors on A send `rate` messages a second in total; B's sockets time each arrival.
    `processes` (role -> pid) are the ones whose CPU use the step reports."""
    latencies, sent = [], 0
    expected = {}

    async def reader(index, socket):
        while True:
            frame = json.loads(await socket.recv())
            text = frame.get("text", "")
            if frame.get("direction") == "INBOUND" and text.startswith("b|"):
                _, sent_at, key = text.split("|", 2)
                if expected.pop(key, None) is not None:
                    latencies.append(time.time() - float(sent_at))

    readers = [asyncio.create_task(reader(i, b)) for i, (_, b) in enumerate(pairs)]
    meter, started = harness.CpuMeter(**processes), time.monotonic()
    total = int(rate * seconds)
    for n in range(total):
        visitor, _ = pairs[n % len(pairs)]
        key = f"{rate}-{n}"
        expected[key] = True
        await visitor.send(json.dumps({"type": "message", "text": f"b|{time.time()}|{key}"}))
        sent += 1
        delay = started + (n + 1) / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    send_seconds = time.monotonic() - started
    cpu_percent = meter.percent()
    deadline = time.monotonic() + 10
    while expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for task in readers:
        task.cancel()
    # Each visitor also gets its own echo on A; drain those so the next step starts clean.
    for visitor, _ in pairs:
        try:
            while True:
                await asyncio.wait_for(visitor.recv(), 0.001)
        except TimeoutError:
            pass
    return {
        "rate": rate,
        "sent": sent,
        "received": len(latencies),
        "lost": len(expected),
        "achieved_send_rate": round(sent / send_seconds),
        "generator_cpu_percent": cpu_percent["generator"],
        "cpu_percent": cpu_percent,
        **harness.percentiles(latencies),
    }


async def fan_out(a: ServerProcess, b: ServerProcess, worker: WorkerProcess) -> dict:
    started = start_conversations(a, CONVERSATIONS)
    pairs = [(await open_socket(a, s["token"]), await open_socket(b, s["token"])) for s in started]
    # Steady state: the worker has opened the conversations' topics before visitors talk.
    await asyncio.to_thread(_outbox_drained)
    steps, sustained = [], 0
    for rate in LADDER:
        await asyncio.to_thread(harness.vacuum)
        processes = {"A": a.process.pid, "B": b.process.pid, "worker": worker.process.pid}
        step = await fan_out_step(pairs, rate, STEP_SECONDS, processes)
        steps.append(step)
        print(json.dumps(step), flush=True)
        if step["lost"] or step.get("p99_ms", 0) > P99_LIMIT_MS or step["achieved_send_rate"] < rate * 0.95:
            break
        sustained = rate
    for visitor, other in pairs:
        await visitor.close()
        await other.close()
    return {"steps": steps, "highest_sustained_rate": sustained}


def _outbox_drained(timeout: float = 300) -> None:
    """Waits for the worker to finish the fan-out's Telegram posts, which share its queue."""
    deadline = time.monotonic() + timeout
    with tenancy.cross_tenant("benchmark waits for the outbox to drain"):
        while OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the outbox did not drain")
            time.sleep(0.2)


async def agent_to_widget(a: ServerProcess, b: ServerProcess, seconds: float = 10) -> dict:
    await asyncio.to_thread(_outbox_drained)
    await asyncio.to_thread(harness.vacuum)
    started = start_conversations(a, 20)
    agent = {"id": 77, "is_bot": False, "first_name": "Bench", "username": "bench"}
    conversations = await asyncio.to_thread(_claimed_with_topics, [s["conversation_id"] for s in started], agent)
    widgets = [await open_socket(b, s["token"]) for s in started]
    # The claims' topic edits are the worker's too: measure once they are done.
    await asyncio.to_thread(_outbox_drained)
    posted_at, latencies, post_seconds = {}, [], []

    async def reader(widget):
        while True:
            frame = json.loads(await widget.recv())
            key = frame.get("text", "")
            if frame.get("direction") == "OUTBOUND" and key in posted_at:
                latencies.append(time.monotonic() - posted_at.pop(key))

    readers = [asyncio.create_task(reader(w)) for w in widgets]
    client = httpx.AsyncClient(base_url=a.url, headers={"X-Telegram-Bot-Api-Secret-Token": harness.HEADER_SECRET})
    base_id = int(time.time() * 1000)
    total, begun = int(AGENT_RATE * seconds), time.monotonic()
    for n in range(total):
        conversation = conversations[n % len(conversations)]
        key = f"agent reply {base_id}-{n}"
        update = {
            "update_id": base_id + n,
            "message": {
                "message_id": 10**7 + n,
                "date": int(time.time()),
                "from": agent,
                "text": key,
                "chat": {"id": DEFAULT_CHAT_ID, "type": "supergroup"},
                "message_thread_id": conversation.thread_id,
                "is_topic_message": True,
            },
        }
        posted_at[key] = posted = time.monotonic()
        response = await client.post("/v1/telegram/webhook", content=json.dumps(update))
        post_seconds.append(time.monotonic() - posted)
        assert response.status_code == 200, response.text
        delay = begun + (n + 1) / AGENT_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    deadline = time.monotonic() + 15
    while posted_at and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for task in readers:
        task.cancel()
    await client.aclose()
    for widget in widgets:
        await widget.close()
    return {
        "rate": AGENT_RATE,
        "sent": total,
        "lost": len(posted_at),
        **harness.percentiles(latencies),
        "webhook_response": harness.percentiles(post_seconds),
    }


def _claimed_with_topics(conversation_ids: list[str], agent: dict, timeout: float = 60) -> list[Conversation]:
    """Waits for the worker to open each topic, then claims each for the bench agent."""
    with tenancy.tenant_context(tenant_get_default()):
        deadline = time.monotonic() + timeout
        while Conversation.objects.filter(pk__in=conversation_ids, thread_id__isnull=True).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the worker did not open the topics")
            time.sleep(0.05)
        conversations = list(Conversation.objects.filter(pk__in=conversation_ids))
        for conversation in conversations:
            services.conversation_claim(conversation=conversation, agent_id=agent["id"], agent_name=agent["username"])
        return conversations


async def idle_sockets(a: ServerProcess, b: ServerProcess) -> dict:
    started = start_conversations(a, 50)
    result = {}
    for name, server in (("A", a), ("B", b)):
        await asyncio.sleep(1)
        before = rss_kb(server.process.pid)
        sockets = []
        for i in range(IDLE_SOCKETS):
            sockets.append(await open_socket(server, started[i % len(started)]["token"]))
        await asyncio.sleep(3)
        after = rss_kb(server.process.pid)
        result[name] = {
            "sockets": IDLE_SOCKETS,
            "rss_before_kb": before,
            "rss_after_kb": after,
            "kb_per_socket": round((after - before) / IDLE_SOCKETS, 1),
        }
        for socket in sockets:
            await socket.close()
    return result


async def run(fake) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="chatorical-bench-"))
    env = harness.process_env(fake)
    a, b = ServerProcess(**env), ServerProcess(**env)
    worker = WorkerProcess(tmp, **env)
    try:
        await asyncio.sleep(3)
        results = {"fan_out": await fan_out(a, b, worker)}
        results["agent_to_widget"] = await agent_to_widget(a, b)
        results["idle_sockets"] = await idle_sockets(a, b)
        return results
    finally:
        worker.stop()
        a.stop()
        b.stop()


def main() -> dict:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it
    with harness.fake_telegram() as fake:
        results = asyncio.run(run(fake))
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
