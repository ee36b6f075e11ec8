"""Real-time benchmark, run by hand: `.venv/bin/python bench/realtime.py` (or `make bench`).

Three profiles (the default one with the peer, then budgets_off, each pair or single from a
fresh database and an empty Redis), driven by one load generator (this process) with the
same rates, conversations and socket placement:

- `default`, the real case: Telegram's send budgets at their defaults (no TELEGRAM_* setting
  overridden) and the fake Bot API enforcing Telegram's limits (20 posts a minute into a
  group, 30 a second per bot, 429 with retry_after past them). Every conversation is the
  default tenant's, so all of them share its one support group and its budget of 19 posts
  a minute: the worker merges the visitors' messages into the few posts that allows.
- `budgets_off`: the send budgets raised to 10^9 and the fake's limits off, so the worker
  posts every message (what `make bench` measured before: the heaviest case for the worker).
- `peer`: the minimal Channels group chat of bench/peer (daphne, RedisPubSubChannelLayer,
  nothing stored, no auth), the yardstick every figure is divided by.

Each profile runs two server instances, A and B (and for the project a Celery worker). Per
conversation the visitor's socket is on A and a second socket of the same conversation is
on B, which times each arrival. Measured:

- fan-out at 200 msg/s over 100 and over 500 conversations (after 3 s of it unmeasured,
  to warm the sockets and pools up), then the highest sustained rate over 100 and over
  500 conversations: up BENCH_LADDER until a step fails, or down to 100 and then 50 msg/s
  when 200 fails. A step holds when nothing is lost, p99 ≤ 250 ms and the generator kept
  up (≥ 95 % of the rate).
- per step, CPU by process (each daphne, the worker, the benchmark's Redis, PostgreSQL: see
  harness.CpuMeter) from the first send until the last frame reached B, and CPU per
  fanned-out message: those CPU seconds summed over every server process (the load
  generator, which holds the fake Bot API, is left out and reported apart) divided by the
  frames B received. The project's steps also count the Bot API posts the fake accepted
  and refused with 429 over the step.
- agent -> widget (default profile): agents' messages as webhook updates posted to A at a
  fixed rate, widgets on B: latency from POST to frame (sent on a plain socket: see
  harness.PostConnection).
- idle sockets (default and peer, first, on fresh instances): KB of RSS per idle socket on
  each instance.

The default profile and the peer run side by side: both are set up, then each fan-out step
runs on one and then on the other, with the other's processes paused (SIGSTOP) meanwhile,
so both figures of a ratio come from the same minute and neither stack's timers stir
during the other's step (fan_outs_in_turn); between steps both run for a moment.
budgets_off, which would share the default profile's database, runs on its own afterwards.
"""

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import harness

harness.setup()

import httpx  # noqa: E402
import websockets  # noqa: E402

from chatorical.testing import ServerProcess, WorkerProcess, free_port, terminate, wait_answering  # noqa: E402
from telegram_bridge.testing.fixtures import DEFAULT_CHAT_ID  # noqa: E402

PROFILES = os.environ.get("BENCH_PROFILES", "default,budgets_off,peer").split(",")
RATE = 200
CONVERSATIONS = (100, 500)
LADDER = [int(r) for r in os.environ.get("BENCH_LADDER", "400,600,800,1000,1300,1600,2000,2600,3200").split(",")]
LADDER_DOWN = (100, 50)  # when 200 msg/s does not hold
STEP_SECONDS = float(os.environ.get("BENCH_STEP_SECONDS", 10))
WARM_UP_SECONDS = 3
RESUMED_SETTLE_SECONDS = 2
AGENT_RATE, AGENT_CONVERSATIONS = 50, 20
IDLE_SOCKETS = int(os.environ.get("BENCH_IDLE_SOCKETS", 2000))
P99_BOUND_MS = 250
CONNECTING_AT_ONCE = 25
PEER_APPLICATION = "bench.peer.asgi:application"


class Product:
    """The project: two daphne instances and a Celery worker, against the fake Bot API."""

    sends_welcome = True

    def __init__(self, *, budgets_off: bool):
        self.budgets_off = budgets_off
        self.fake = harness.fake_telegram(limits=not budgets_off).start()
        env = harness.process_env(self.fake, budgets_off=budgets_off)
        self.a, self.b = ServerProcess(**env), ServerProcess(**env)
        self.worker = WorkerProcess(Path(tempfile.mkdtemp(prefix="chatorical-bench-")), **env)
        self.database = harness.database_name()

    def roles(self) -> dict:
        return {"A": self.a.process.pid, "B": self.b.process.pid, "worker": self.worker.process.pid}

    async def start_conversations(self, count: int, prefix: str) -> list[dict]:
        gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
        async with httpx.AsyncClient(base_url=self.a.url, timeout=60) as client:

            async def start(i):
                async with gate:
                    response = await client.post("/v1/start", json={"name": f"{prefix} {i}"})
                    assert response.status_code == 201, response.text
                    return {"name": f"{prefix} {i}", "token": response.json()["token"]}

            return await asyncio.gather(*(start(i) for i in range(count)))

    def socket_url(self, server, conversation: dict) -> str:
        return f"{server.ws_url}/v1/ws?token={conversation['token']}"

    def settle(self, conversations: list[dict]) -> None:
        """Waits for the worker to open these conversations' topics and, without budgets, to
        post every topic's header, then for it to calm down (at most 30 s more): steady
        state before visitors talk. With the budgets the headers trickle out at the group's
        pace for minutes, as they would in a deployment."""
        self.topic_threads([c["name"] for c in conversations], timeout=300)
        if self.budgets_off:
            topics = len(self.fake.topics(DEFAULT_CHAT_ID))
            wait_until(lambda: len(self.fake.calls("sendMessage")) >= topics, timeout=300)
        with contextlib.suppress(TimeoutError):
            wait_until(self._worker_calm, timeout=30, interval=0)

    def _worker_calm(self) -> bool:
        meter = harness.CpuMeter({"worker": self.worker.process.pid})
        time.sleep(1)
        return meter.stop()["percent"]["worker"] < 10

    def bot_api_counts(self) -> dict:
        calls = self.fake.calls("sendMessage")
        return {"posts": sum(call.ok for call in calls), "refused_429": sum(call.status == 429 for call in calls)}

    def topic_threads(self, names: list[str], timeout: float = 120) -> dict:
        """name -> thread id of the topics the worker opened for these visitors."""

        def found():
            threads = {t["name"]: t["message_thread_id"] for t in self.fake.topics(DEFAULT_CHAT_ID)}
            return threads if all(name in threads for name in names) else None

        return wait_until(found, timeout=timeout)

    def stop(self) -> None:
        self.worker.stop()
        self.a.stop()
        self.b.stop()
        self.fake.stop()


class PeerServer:
    """One daphne instance of the peer (bench/peer) on a free loopback port."""

    def __init__(self):
        self.port = free_port()
        self.url, self.ws_url = f"http://127.0.0.1:{self.port}", f"ws://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.gettempdir()) / f"chatorical-bench-peer-{self.port}.log"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.peer.settings", "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), PEER_APPLICATION],
                cwd=harness.ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_answering(self.process, f"{self.url}/", self.log_path, timeout=20)


class Peer:
    """The minimal Channels group chat: two instances, nothing else."""

    sends_welcome = False
    database = None

    def __init__(self):
        self.a, self.b = PeerServer(), PeerServer()

    def roles(self) -> dict:
        return {"A": self.a.process.pid, "B": self.b.process.pid}

    async def start_conversations(self, count: int, prefix: str) -> list[dict]:
        return [{"name": f"{prefix} {i}", "group": uuid.uuid4().hex} for i in range(count)]

    def socket_url(self, server, conversation: dict) -> str:
        return f"{server.ws_url}/ws/{conversation['group']}"

    def settle(self, conversations: list[dict]) -> None:
        pass

    def bot_api_counts(self) -> None:
        return None

    def stop(self) -> None:
        terminate(self.a.process)
        terminate(self.b.process)


def wait_until(predicate, *, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark condition not met in {timeout} s")
        time.sleep(interval)
    return value


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_sockets(target, server, conversations: list[dict]) -> list:
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def open_one(conversation):
        async with gate:
            # No pings from this side: a target paused while another is measured (harness.paused)
            # would not answer them in time, and the socket would be closed.
            socket = await websockets.connect(
                target.socket_url(server, conversation), max_queue=None, open_timeout=60, ping_interval=None
            )
            if target.sends_welcome:
                welcome = json.loads(await socket.recv())
                assert welcome.get("key") == "welcome", welcome
            return socket

    return await asyncio.gather(*(open_one(c) for c in conversations))


async def fan_out_step(target, pairs, rate: int, seconds: float = STEP_SECONDS) -> dict:
    """Visitors on A send `rate` messages a second in total; B's sockets time each arrival."""
    latencies, expected = [], {}
    counts_before = target.bot_api_counts()

    async def reader(socket):
        while True:
            frame = json.loads(await socket.recv())
            text = frame.get("text", "")
            if frame.get("direction") == "INBOUND" and text.startswith("b|"):
                _, sent_at, key = text.split("|", 2)
                if expected.pop(key, None) is not None:
                    latencies.append(time.time() - float(sent_at))

    readers = [asyncio.create_task(reader(b)) for _, b in pairs]
    meter, started = harness.CpuMeter(target.roles(), target.database), time.monotonic()
    total = int(rate * seconds)
    for n in range(total):
        visitor, _ = pairs[n % len(pairs)]
        key = f"{rate}-{len(pairs)}-{n}"
        expected[key] = True
        await visitor.send(json.dumps({"type": "message", "text": f"b|{time.time()}|{key}"}))
        delay = started + (n + 1) / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    send_seconds = time.monotonic() - started
    deadline = time.monotonic() + 10
    while expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    usage = meter.stop()
    for task in readers:
        task.cancel()
    # Each visitor also gets its own echo on A; drain those so the next step starts clean.
    for visitor, _ in pairs:
        with contextlib.suppress(TimeoutError):
            while True:
                await asyncio.wait_for(visitor.recv(), 0.001)
    server_cpu = sum(seconds for role, seconds in usage["cpu_seconds"].items() if role != "generator")
    step = {
        "conversations": len(pairs),
        "rate": rate,
        "sent": total,
        "received": len(latencies),
        "lost": len(expected),
        "achieved_send_rate": round(total / send_seconds),
        **harness.percentiles(latencies),
        "window_seconds": usage["seconds"],
        "cpu_seconds": usage["cpu_seconds"],
        "cpu_percent": usage["percent"],
        "cpu_ms_per_message": round(1000 * server_cpu / len(latencies), 3) if latencies else None,
    }
    if counts_before is not None:
        after = target.bot_api_counts()
        step["bot_api"] = {key: after[key] - counts_before[key] for key in after}
    return step


def holds(step: dict) -> bool:
    kept_up = step["achieved_send_rate"] >= step["rate"] * 0.95
    return not step["lost"] and step.get("p99_ms", 0) <= P99_BOUND_MS and kept_up


class FanOut:
    """One target's conversations with their socket pairs, set up and warmed up, and the
    fan-out steps run on them."""

    def __init__(self, target, pairs: list, beside: list):
        self.target, self.pairs, self.steps = target, pairs, []
        self.beside = beside  # the targets measured side by side: paused during this one's steps

    @classmethod
    async def set_up(cls, target, beside: list) -> "FanOut":
        began = time.monotonic()
        conversations = await target.start_conversations(max(CONVERSATIONS), "Bench")
        visitors = await open_sockets(target, target.a, conversations)
        others = await open_sockets(target, target.b, conversations)
        pairs = list(zip(visitors, others, strict=True))
        await asyncio.to_thread(target.settle, conversations)
        print(f"set-up of {len(pairs)} conversations and their sockets: {time.monotonic() - began:.0f} s", flush=True)
        # Unmeasured: the first frames of each socket and pool take paths later ones do not.
        await fan_out_step(target, pairs, RATE, seconds=WARM_UP_SECONDS)
        return cls(target, pairs, beside)

    async def step(self, count: int, rate: int) -> dict:
        # Every target runs a while between steps: one just let go catches up on its timers
        # (the servers' pings of every socket, the worker's beat) outside any window, and
        # none stays paused past one step, which a server's ping timeout (30 s) would not
        # survive.
        await asyncio.sleep(RESUMED_SETTLE_SECONDS)
        with alone(self.target, self.beside):
            if self.target.database:
                await asyncio.to_thread(harness.vacuum)
            result = await fan_out_step(self.target, self.pairs[:count], rate)
        self.steps.append(result)
        print(json.dumps(result), flush=True)
        return result

    async def sustained_below(self, count: int) -> int:
        """Down the ladder, when 200 msg/s failed."""
        for rate in LADDER_DOWN:
            if holds(await self.step(count, rate)):
                return rate
        return 0

    async def close(self) -> None:
        for visitor, other in self.pairs:
            await visitor.close()
            await other.close()


def alone(running, targets) -> contextlib.AbstractContextManager:
    """The other targets' processes paused while `running` is measured."""
    return harness.paused([pid for target in targets if target is not running for pid in target.roles().values()])


async def fan_outs_in_turn(fan_outs: dict[str, FanOut]) -> dict[str, dict]:
    """Each step of every target in turn, the others paused meanwhile, so the two figures
    of a ratio are measured seconds apart. The same setup, started twice in a row, spent
    2.6 and then 3.5 ms of CPU a message at 200 msg/s, every process a third dearer alike,
    the load generator's too: with one profile after the other, minutes apart, such a swing
    of the machine went into the ratios."""
    firsts: dict[str, list[dict]] = {name: [] for name in fan_outs}
    for count in CONVERSATIONS:
        for name, fan_out in fan_outs.items():
            firsts[name].append(await fan_out.step(count, RATE))
    # At 2,000 msg/s each visitor socket sends 20 frames a second over 100 conversations,
    # and 4 over 500: the ladder is climbed over both, so that a bound per socket shows.
    sustained: dict[str, dict[int, int]] = {name: {} for name in fan_outs}
    for index, count in enumerate(CONVERSATIONS):
        climbing = {}
        for name, fan_out in fan_outs.items():
            if holds(firsts[name][index]):
                climbing[name] = RATE
            else:
                sustained[name][count] = await fan_out.sustained_below(count)
        for rate in LADDER:
            for name in list(climbing):
                if holds(await fan_outs[name].step(count, rate)):
                    climbing[name] = rate
                else:
                    sustained[name][count] = climbing.pop(name)
        for name, rate in climbing.items():
            sustained[name][count] = rate
    return {
        name: {
            "steps": fan_out.steps,
            "highest_sustained_rate": sustained[name][CONVERSATIONS[0]],
            "highest_sustained_rate_500": sustained[name][CONVERSATIONS[1]],
        }
        for name, fan_out in fan_outs.items()
    }


async def agent_to_widget(target: Product, seconds: float = 10) -> dict:
    """Agents claim 20 topics with /claim, then answer at AGENT_RATE, all as webhook updates
    to A; the widgets on B time each answer from its POST."""
    conversations = await target.start_conversations(AGENT_CONVERSATIONS, "Agent")
    widgets = await open_sockets(target, target.b, conversations)
    threads = await asyncio.to_thread(target.topic_threads, [c["name"] for c in conversations])
    thread_ids = [threads[c["name"]] for c in conversations]
    agent = {"id": 77, "is_bot": False, "first_name": "Bench", "username": "bench"}
    joined = [asyncio.Event() for _ in widgets]
    posted_at, latencies, post_seconds = {}, [], []

    async def reader(widget, joined_event):
        while True:
            frame = json.loads(await widget.recv())
            if frame.get("type") == "agent_joined":
                joined_event.set()
            key = frame.get("text", "")
            if frame.get("direction") == "OUTBOUND" and key in posted_at:
                latencies.append(time.monotonic() - posted_at.pop(key))

    readers = [asyncio.create_task(reader(w, e)) for w, e in zip(widgets, joined, strict=True)]
    connection = harness.PostConnection(target.a.url, {"X-Telegram-Bot-Api-Secret-Token": harness.HEADER_SECRET})
    base_id = int(time.time() * 1000)

    async def post(n: int, thread_id: int, text: str) -> float:
        """Posts the update; returns the seconds until the answer."""
        update = {
            "update_id": base_id + n,
            "message": {
                "message_id": 10**7 + n,
                "date": int(time.time()),
                "from": agent,
                "text": text,
                "chat": {"id": DEFAULT_CHAT_ID, "type": "supergroup"},
                "message_thread_id": thread_id,
                "is_topic_message": True,
            },
        }
        status, body, written = await connection.post("/v1/telegram/webhook", json.dumps(update).encode())
        assert status == 200, body
        return time.monotonic() - written

    for n, thread_id in enumerate(thread_ids):
        await post(n, thread_id, "/claim")
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in joined)), 120)
    meter = harness.CpuMeter(target.roles(), target.database)
    total, begun = int(AGENT_RATE * seconds), time.monotonic()
    for n in range(total):
        key = f"agent reply {base_id}-{n}"
        posted_at[key] = time.monotonic()
        post_seconds.append(await post(len(thread_ids) + n, thread_ids[n % len(thread_ids)], key))
        delay = begun + (n + 1) / AGENT_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    deadline = time.monotonic() + 15
    while posted_at and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    usage = meter.stop()
    for task in readers:
        task.cancel()
    await connection.close()
    for widget in widgets:
        await widget.close()
    return {
        "rate": AGENT_RATE,
        "sent": total,
        "lost": len(posted_at),
        **harness.percentiles(latencies),
        "webhook_response": harness.percentiles(post_seconds),
        "cpu_percent": usage["percent"],
    }


async def idle_sockets(target) -> dict:
    """Measured on fresh instances, before any load: memory a busier past freed would be
    reused by the new sockets and hide their cost. A few sockets first load what the
    first connection loads."""
    conversations = await target.start_conversations(50, "Idle")
    result = {}
    for name, server in (("A", target.a), ("B", target.b)):
        for socket in await open_sockets(target, server, conversations[:10]):
            await socket.close()
        await asyncio.sleep(1)
        before = rss_kb(server.process.pid)
        sockets = await open_sockets(target, server, [conversations[i % 50] for i in range(IDLE_SOCKETS)])
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


def make_target(name: str):
    return Peer() if name == "peer" else Product(budgets_off=name == "budgets_off")


async def run_profiles(names: list[str]) -> dict[str, dict]:
    """Profiles measured side by side: each starts its own instances and measures its idle
    sockets on them before any load, then their fan-out steps run in turn."""
    targets, results = {}, {}
    try:
        for name in names:
            targets[name] = make_target(name)
            await asyncio.sleep(3)  # the worker connects to its broker
            results[name] = {}
            if name in ("default", "peer"):
                results[name]["idle_sockets"] = await idle_sockets(targets[name])
        beside = list(targets.values())
        fan_outs = {name: await FanOut.set_up(target, beside) for name, target in targets.items()}
        for name, fanned_out in (await fan_outs_in_turn(fan_outs)).items():
            results[name].update(fanned_out)
        for fan_out in fan_outs.values():
            await fan_out.close()
        if "default" in targets:
            with alone(targets["default"], beside):
                results["default"]["agent_to_widget"] = await agent_to_widget(targets["default"])
            results["default"]["bot_api_totals"] = targets["default"].bot_api_counts()
        return results
    finally:
        for target in targets.values():
            target.stop()


def side_by_side(profiles: list[str]) -> list[list[str]]:
    """The default profile and the peer measured together (its figures are the ratios'
    numerators and denominators); budgets_off, which shares their database, on its own."""
    together = [name for name in profiles if name in ("default", "peer")]
    on_their_own = [[name] for name in profiles if name not in together]
    return ([together] if together else []) + on_their_own


def main() -> dict:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it
    results = {"step_seconds": STEP_SECONDS, "p99_bound_ms": P99_BOUND_MS, "profiles": {}, "wall_seconds": {}}
    for index, names in enumerate(side_by_side(PROFILES)):
        if index:
            harness.reset()
        started = time.monotonic()
        results["profiles"].update(asyncio.run(run_profiles(names)))
        label = " and ".join(names)
        results["wall_seconds"][label] = round(time.monotonic() - started)
        print(f"profiles {label}: {results['wall_seconds'][label]} s", flush=True)
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
