"""Redis, then PostgreSQL, stopped and started again under a live, claimed conversation.

Two daphne instances and a Celery worker run against a private Redis (and, in the second
test, a private PostgreSQL cluster); the widget's socket is on instance B, Telegram's
webhook and the visitor's start on instance A. Redis is SIGKILLed, started empty, then
SIGTERMed and started empty again; PostgreSQL is crashed (immediate) and then stopped
cleanly (fast), each time started again. Within RECOVERY_SECONDS of it answering again: a
visitor message reaches the Bot API, an agent reply reaches the widget (on its socket or
a reconnected one), the message sent during the outage was either delivered or refused
with an info_note, and nothing was posted twice.
"""

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest
import websockets
from django.conf import settings

from chatorical.testing import ROOT, WorkerProcess, process_env
from telegram_bridge.testing.fixtures import DEFAULT_CHAT_ID
from telegram_bridge.tests.conftest import AGENT, HEADER_SECRET, WEBHOOK_SECRET

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

RECOVERY_SECONDS = 15
OUTAGE_SECONDS = 2


class Widget:
    """A v1 widget: one socket at a time to one instance, opened again whenever it closes."""

    def __init__(self, ws_url: str, token: str):
        self.url = f"{ws_url}/v1/ws?token={token}"
        self.frames: list[dict] = []
        self.close_codes: list[int] = []
        self.socket = None
        self._task = asyncio.create_task(self._run())

    async def _run(self):
        while True:
            try:
                async with websockets.connect(self.url) as socket:
                    self.socket = socket
                    async for raw in socket:
                        self.frames.append(json.loads(raw))
            except websockets.ConnectionClosed as closed:
                self.close_codes.append(closed.rcvd.code if closed.rcvd else 1006)
            except (OSError, websockets.WebSocketException):
                pass
            self.socket = None
            await asyncio.sleep(0.2)

    async def send(self, text: str, *, deadline: float) -> str:
        """Sends once on an open socket: 'echoed', 'refused' (an info_note came back), 'closed'
        (the socket closed first) or 'silent' (nothing by the deadline)."""
        while self.socket is None:
            assert time.monotonic() < deadline, "the widget found no open socket"
            await asyncio.sleep(0.05)
        socket, seen = self.socket, len(self.frames)
        try:
            await socket.send(json.dumps({"type": "message", "text": text}))
        except websockets.ConnectionClosed:
            return "closed"
        while time.monotonic() < deadline:
            for frame in self.frames[seen:]:
                if frame.get("direction") == "INBOUND" and frame.get("text") == text:
                    return "echoed"
                if frame.get("type") == "info_note" and frame.get("key") not in ("welcome", "offline"):
                    return "refused"
            if self.socket is not socket:
                return "closed"
            await asyncio.sleep(0.05)
        return "silent"

    def got(self, *, direction: str, text: str) -> bool:
        return any(frame.get("direction") == direction and frame.get("text") == text for frame in self.frames)

    async def close(self):
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def until(predicate, *, deadline: float, what: str):
    while not predicate():
        assert time.monotonic() < deadline, f"not within {RECOVERY_SECONDS} s of the restart: {what}"
        await asyncio.sleep(0.1)


def topic_texts(fake, thread_id: int) -> list[str]:
    return [message["text"] for message in fake.messages(DEFAULT_CHAT_ID, thread_id=thread_id)]


class Conversation:
    """The live conversation of the test, driven from the outside only: HTTP, WebSocket, webhook."""

    def __init__(self, fake, a, b):
        self.fake, self.a, self.b = fake, a, b

    async def start(self, *, deadline: float):
        async with httpx.AsyncClient() as client:
            started = (await client.post(f"{self.a.url}/v1/start", json={"name": "Ada"})).json()
        self.conversation_id, self.token = started["conversation_id"], started["token"]
        self.widget = Widget(self.b.ws_url, self.token)
        await until(lambda: self.fake.topics(DEFAULT_CHAT_ID), deadline=deadline, what="topic created")
        self.thread_id = self.fake.topics(DEFAULT_CHAT_ID)[-1]["message_thread_id"]
        await self.agent_says("/claim")
        await until(
            lambda: any(f.get("type") == "agent_joined" for f in self.widget.frames), deadline=deadline, what="claimed"
        )

    async def close(self):
        if hasattr(self, "widget"):
            await self.widget.close()

    async def agent_says(self, text: str):
        update = self.fake.add_user_message(DEFAULT_CHAT_ID, text, thread_id=self.thread_id, user=AGENT)
        async with httpx.AsyncClient() as client:
            for _ in range(50):  # Telegram retries a webhook that failed; so do we
                try:
                    response = await client.post(
                        f"{self.a.url}/v1/telegram/webhook",
                        json=update,
                        headers={"X-Telegram-Bot-Api-Secret-Token": HEADER_SECRET},
                    )
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        pytest.fail(f"the webhook never took {text!r}")

    async def stored(self, text: str) -> bool:
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{self.a.url}/v1/conversations/{self.conversation_id}/messages",
                headers={"Authorization": f"Bearer {self.token}"},
            )
        return response.status_code == 200 and text in [m["text"] for m in response.json()["messages"]]

    async def visitor_sends(self, text: str, *, deadline: float):
        """Sent until stored: resent only when it was refused, or lost with a closing socket."""
        while time.monotonic() < deadline:
            outcome = await self.widget.send(text, deadline=deadline)
            if outcome == "echoed" or (outcome == "closed" and await self.stored(text)):
                return
            await asyncio.sleep(0.3)
        pytest.fail(f"{text!r} was never stored")

    async def one_round_trip(self, label: str, *, deadline: float):
        """A visitor message reaches Telegram and an agent reply reaches the widget."""
        await self.visitor_sends(f"visitor {label}", deadline=deadline)
        await until(
            lambda: f"visitor {label}" in topic_texts(self.fake, self.thread_id), deadline=deadline,
            what=f"visitor {label} posted to Telegram",
        )  # fmt: skip
        await self.agent_says(f"agent {label}")
        await until(
            lambda: self.widget.got(direction="OUTBOUND", text=f"agent {label}"), deadline=deadline,
            what=f"agent {label} on a widget socket",
        )  # fmt: skip


# Telegram's limit per group in the fake, and our send budget under it, both ten times
# those of a real group: their minute-scale pacing takes seconds, in the same proportions.
TIME_SCALE = 10


def process_env_for(fake, **overrides) -> dict:
    return {
        "TELEGRAM_GROUP_POSTS_PER_MINUTE": 19 * TIME_SCALE,
        "TELEGRAM_API_BASE": fake.base_url,
        "BOT_TOKEN": settings.BOT_TOKEN,
        "SUPPORT_GROUP_ID": settings.SUPPORT_GROUP_ID,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_HEADER_SECRET": HEADER_SECRET,
        "OUTBOX_SWEEP_SECONDS": 1,
        **overrides,
    }


async def readiness(server) -> str:
    """ "ok", or why /ready fails."""
    async with httpx.AsyncClient() as client:
        try:
            response = await client.get(f"{server.url}/ready", timeout=5)
        except httpx.HTTPError as error:
            return repr(error)
    return "ok" if response.status_code == 200 else response.text


async def survive_restarts(chat, worker, restarts):
    """`restarts`: (label, stop, start) for each outage, in turn, under the live conversation."""
    await chat.start(deadline=time.monotonic() + 60)
    await chat.one_round_trip("before", deadline=time.monotonic() + 30)
    for label, stop, start in restarts:
        stop()
        outage_text = f"during outage {label}"
        sending = asyncio.create_task(chat.widget.send(outage_text, deadline=time.monotonic() + 30))
        await asyncio.sleep(OUTAGE_SECONDS)
        start()
        deadline = time.monotonic() + RECOVERY_SECONDS
        await chat.one_round_trip(label, deadline=deadline)
        outcome = await sending
        assert outcome != "silent", "a message sent during the outage got neither an echo nor an info_note"
        if outcome == "refused":
            assert not await chat.stored(outage_text), "refused with an info_note, yet stored"
        else:
            await until(
                lambda text=outage_text: text in topic_texts(chat.fake, chat.thread_id), deadline=deadline,
                what=f"{outage_text!r} ({outcome}), stored, reaches Telegram",
            )  # fmt: skip
        for server in (chat.a, chat.b):
            assert await readiness(server) == "ok", f"/ready of {server.url} after the restart"

    posted = Counter(topic_texts(chat.fake, chat.thread_id))
    assert [text for text, count in posted.items() if count > 1] == [], "nothing is posted twice"
    assert worker.process.poll() is None, "the worker outlived the outages"


@contextlib.asynccontextmanager
async def live_setup(telegram, start_server, tmp_path, **env_overrides):
    """Two daphne instances and a worker on `env_overrides`, and the conversation to drive."""
    telegram.set_limits(group_per_minute=20 * TIME_SCALE)
    env = process_env_for(telegram, **env_overrides)
    a, b = start_server(**env), start_server(**env)
    worker = WorkerProcess(tmp_path, **env)
    chat = Conversation(telegram, a, b)
    try:
        yield chat, worker
    finally:
        await chat.close()
        worker.stop()


async def test_a_redis_restart_under_a_live_conversation_costs_nothing(telegram, private_redis, start_server, tmp_path):
    # Our send budgets, Telegram's limits in the fake (both scaled): the restart must not lift them.
    async with live_setup(telegram, start_server, tmp_path, REDIS_URL=private_redis.url) as (chat, worker):
        await survive_restarts(
            chat, worker,
            [
                ("after SIGKILL", lambda: private_redis.stop(signal.SIGKILL), private_redis.start),
                ("after SIGTERM", lambda: private_redis.stop(signal.SIGTERM), private_redis.start),
            ],
        )  # fmt: skip
        async with httpx.AsyncClient() as client:
            metrics = (
                await client.get(f"{chat.b.url}/metrics", headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}"})
            ).text
        assert 'chatorical_backend_reconnects_total{component="channel_layer"} 2.0' in metrics
        worker_log = worker.log_path.read_text()
        # Run 1 of issue 13: "Unrecoverable error: AttributeError: 'NoneType' object has no
        # attribute 'hostname'", from the Gossip step restarting on a closed connection.
        assert "AttributeError" not in worker_log and "Unrecoverable" not in worker_log
        assert worker_log.count("worker back on its broker") == 2


@pytest.fixture
def private_database(private_postgres) -> str:
    """A migrated database on the private cluster (the data migration adds the default tenant)."""
    port = str(private_postgres.port)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "chatorical"], check=True)
    url = private_postgres.url("chatorical")
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(migrate, cwd=ROOT, env=process_env(DATABASE_URL=url), check=True)
    return url


async def test_a_postgresql_restart_under_a_live_conversation_costs_nothing(
    telegram, private_postgres, private_database, start_server, tmp_path
):
    async with live_setup(telegram, start_server, tmp_path, DATABASE_URL=private_database) as (chat, worker):
        await survive_restarts(
            chat, worker,
            [
                ("after a crash", lambda: private_postgres.stop("immediate"), private_postgres.start),
                ("after a clean stop", lambda: private_postgres.stop("fast"), private_postgres.start),
            ],
        )  # fmt: skip
