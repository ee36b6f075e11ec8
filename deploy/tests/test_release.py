"""deploy/release.sh against two live instances behind nginx, with a widget connected.

The widget here behaves as widget-v2.js does: a message stays pending until the server
echoes it; on a closed socket it fetches a new token and reconnects through nginx with
`after_seq`, takes what the backlog holds as delivered, and sends again only what is
missing. Messages are typed at the worst moments: when a restart begins and while the
socket is closed by it. Each must be stored and shown exactly once.
"""

import asyncio
import json
import subprocess
import sys
import time

import httpx
import pytest
import websockets

from chatorical.testing import ROOT, free_port, process_env
from deploy.testing import NginxProcess
from deploy.tests.webctl import alive, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("default_tenant"), pytest.mark.processes]

SITE = "https://tenant-a.example"


def wait_ready(port):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"instance on {port} never became ready")


@pytest.fixture
def live_instances(tmp_path):
    """Two detached instances started as release.sh's restart command will restart them."""
    state = tmp_path / "web"
    state.mkdir()
    ports = [free_port(), free_port()]
    env = process_env()
    for port in ports:
        subprocess.run(
            [sys.executable, "-m", "deploy.tests.webctl", "start", str(state), str(port)], cwd=ROOT, env=env, check=True
        )
    for port in ports:
        wait_ready(port)
    yield state, ports
    for port in ports:
        pid = int((state / f"web-{port}.pid").read_text())
        if alive(pid):
            stop(pid)


class Widget:
    def __init__(self, proxy, slug):
        self.proxy = proxy
        self.base = f"{proxy.url}/v2/tenants/{slug}/conversations"
        self.http = httpx.AsyncClient(headers={"Origin": SITE})
        self.conversation_id = None
        self.socket = None
        self.synced = False
        self.last_seq = 0
        self.shown: list[tuple[int, str]] = []
        self.queued: list[str] = []
        self.sent: list[str] = []
        self.close_codes: list[int] = []

    async def start(self):
        response = await self.http.post(self.base, json={"name": "Ada"})
        self.conversation_id = response.json()["conversation_id"]
        await self.connect()

    async def connect(self):
        self.synced = False
        while True:
            response = await self.http.post(f"{self.base}/{self.conversation_id}/token")
            if response.status_code != 200:
                await asyncio.sleep(0.1)
                continue
            token = response.json()["token"]
            try:
                self.socket = await websockets.connect(
                    f"{self.proxy.ws_url}/v2/ws?token={token}&after_seq={self.last_seq}", origin=SITE
                )
                return
            except (OSError, websockets.InvalidStatus):
                await asyncio.sleep(0.1)

    def type(self, text):
        self.queued.append(text)

    async def flush(self):
        if not self.synced:
            return
        for text in self.queued:
            await self.socket.send(json.dumps({"type": "message", "text": text}))
            self.sent.append(text)
        self.queued.clear()

    async def pump(self, seconds=0.1):
        """Reads what arrives for a moment; on a closed socket, reconnects as the widget does."""
        try:
            event = json.loads(await asyncio.wait_for(self.socket.recv(), seconds))
        except TimeoutError:
            return await self.flush()
        except websockets.ConnectionClosed:
            self.close_codes.append(self.socket.close_code)
            # Typed while the widget shows "reconnecting".
            self.type(f"typed while reconnecting {len(self.close_codes)}")
            return await self.connect()
        if event.get("direction") == "INBOUND" and event["seq"] > self.last_seq:
            self.last_seq = event["seq"]
            self.shown.append((event["seq"], event["text"]))
            if event["text"] in self.sent:
                self.sent.remove(event["text"])
        elif event.get("key") == "welcome":
            self.synced = True
            # Sent on an earlier socket but not in the backlog: never stored, send again.
            self.queued[:0] = self.sent
            self.sent = []
        await self.flush()

    @property
    def pending(self):
        return self.queued + self.sent


async def test_release_restarts_instances_one_by_one_and_the_widget_loses_and_doubles_nothing(
    tmp_path, live_instances, tenant_a
):
    state, ports = live_instances
    proxy = NginxProcess(tmp_path / "nginx", upstream_ports=ports, static_parent=tmp_path / "public")
    proxy.start()
    restarts = state / "restarts.log"
    restarts.write_text("")
    webctl = f"{sys.executable} -m deploy.tests.webctl"
    widget = Widget(proxy, tenant_a.tenant.slug)
    try:
        await widget.start()
        widget.type("before the release")
        while widget.pending or not widget.synced:
            await widget.pump()

        release = await asyncio.create_subprocess_exec(
            "bash",
            "deploy/release.sh",
            cwd=ROOT,
            env=process_env(
                STATIC_ROOT=tmp_path / "public" / "static",
                CHATORICAL_WEB_PORTS=" ".join(map(str, ports)),
                CHATORICAL_RESTART_WEB=f"{webctl} restart {state}",
                CHATORICAL_RESTART_WORKERS=f"{webctl} workers {state}",
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        health_statuses = []
        restarts_seen = 0
        while release.returncode is None:
            lines = [line for line in restarts.read_text().splitlines() if line.startswith("web")]
            if len(lines) > restarts_seen:
                restarts_seen = len(lines)
                widget.type(f"typed as {lines[-1]} restarts")
            await widget.pump()
            health_statuses.append((await widget.http.get(f"{proxy.url}/health")).status_code)
            try:
                await asyncio.wait_for(release.wait(), 0.01)
            except TimeoutError:
                pass
        output = (await release.stdout.read()).decode()
        assert release.returncode == 0, output

        widget.type("after the release")
        deadline = time.monotonic() + 30
        while widget.pending and time.monotonic() < deadline:
            await widget.pump()
        history = await widget.http.get(
            f"{proxy.url}/api/v2/conversations/{widget.conversation_id}/messages/",
            headers={"Authorization": f"Api-Key {tenant_a.key}"},
        )
    finally:
        if widget.socket:
            await widget.socket.close()
        await widget.http.aclose()
        proxy.stop()

    steps = [line.removeprefix("release: ") for line in output.splitlines() if line.startswith("release: ")]
    assert steps == [
        "install",
        "widget: checks",
        "collect static files",
        "migrate (under the release lock)",
        f"restart web on port {ports[0]}",
        f"restart web on port {ports[1]}",
        "restart worker and beat",
        "done",
    ]
    assert restarts.read_text().splitlines() == [f"web {ports[0]}", f"web {ports[1]}", "workers"]
    # Its instance closed the widget's socket as a restart, not as a crash.
    assert widget.close_codes and set(widget.close_codes) == {1012}
    assert set(health_statuses) == {200}
    assert widget.pending == []
    texts = [text for _, text in widget.shown]
    assert len(texts) == len(set(texts))
    assert {"before the release", "after the release", "typed while reconnecting 1"} <= set(texts)
    assert f"typed as web {ports[0]} restarts" in texts and f"typed as web {ports[1]} restarts" in texts
    assert [seq for seq, _ in widget.shown] == list(range(1, len(texts) + 1))
    assert [message["text"] for message in history.json()["results"]] == texts
