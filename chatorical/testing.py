"""Test helpers that start real processes (daphne, Celery) against the test database."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(**overrides) -> dict:
    """The environment of a child process that uses this test run's database and Redis."""
    db = connection.settings_dict
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="chatorical.settings",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=os.environ["REDIS_URL"],
        REDIS_KEY_PREFIX=settings.REDIS_KEY_PREFIX,
        CONVERSATION_JWT_SECRET=settings.CONVERSATION_JWT_SECRET,
        SERVICE_TOKEN=settings.SERVICE_TOKEN,
        PYTHONUNBUFFERED="1",
    )
    env.update({key: str(value) for key, value in overrides.items()})
    return env


ASGI_SERVERS = {
    # daphne with the graceful stop production runs (chatorical/server.py).
    "daphne": [
        "-m", "chatorical.server", "-b", "127.0.0.1", "-p", "{port}", "--websocket-max-frame-size", "{ws_max_bytes}",
        "--websocket-max-message-size", "{ws_max_bytes}", "chatorical.asgi:application",
    ],
    "uvicorn": [
        "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--loop", "uvloop", "--ws", "websockets",
        "--ws-max-size", "{ws_max_bytes}", "--log-level", "warning", "chatorical.asgi:application",
    ],
}  # fmt: skip


class ServerProcess:
    """A real ASGI server (daphne unless CHATORICAL_ASGI_SERVER says uvicorn) serving the
    project on a free loopback port."""

    def __init__(self, **env_overrides):
        self.server = os.environ.get("CHATORICAL_ASGI_SERVER", "daphne")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"chatorical-daphne-{self.port}.log"
        self.log_path.write_bytes(b"")
        self.env = process_env(**env_overrides)
        self.start()

    def start(self):
        """Starts daphne; after stop(), again on the same port, as a restarted instance."""
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                *(
                    arg.format(port=self.port, ws_max_bytes=settings.WS_SERVER_MAX_BYTES)
                    for arg in ASGI_SERVERS[self.server]
                ),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_healthy()
        except RuntimeError:
            self.stop()  # not left running: the fixture never got to know it
            raise

    def _wait_healthy(self, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"daphne did not become healthy: {self.log_path.read_text()[-2000:]}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture
def start_server():
    """Starts daphne processes for a test and stops them after it: `start_server(**env)`."""
    servers = []

    def start(**env_overrides) -> ServerProcess:
        server = ServerProcess(**env_overrides)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class WorkerProcess:
    """A real Celery worker (with beat, for the sweeps) in its own process group."""

    def __init__(self, tmp_path: Path, **env_overrides):
        self.log_path = tmp_path / f"celery-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "chatorical",
                "worker",
                "--beat",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--schedule",
                str(tmp_path / "beat-schedule"),
            ],
            cwd=ROOT,
            env=process_env(**env_overrides),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self):
        """SIGKILL: no clean-up, no acknowledgement, as when a machine dies."""
        os.killpg(self.process.pid, 9)
        self.process.wait()
        self._log.close()

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class RedisServer:
    """A private redis-server on a spare port, for tests that stop and restart it. Nothing
    is saved to disk: every start is an empty Redis, as after a restart that lost its data."""

    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.dir = tmp_path / f"redis-{self.port}"
        self.dir.mkdir()
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self, timeout: float = 10.0):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = 15):
        """SIGKILL (9) as a crash, SIGTERM (15) as a clean stop; waits until it is gone."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop(9)


def _postgres_server_program(name: str) -> str:
    """initdb and pg_ctl: on PATH, or where Debian keeps them (off PATH, one dir per version)."""
    found = shutil.which(name) or sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda path: int(path.parts[-3])
    )
    if not found:
        raise RuntimeError(f"{name} not found: install PostgreSQL's server package")
    return found if isinstance(found, str) else str(found[-1])


class PostgresCluster:
    """A private PostgreSQL cluster on a spare port, for tests that stop and restart it.

    initdb refuses to run as root, so under root the cluster belongs to the `postgres`
    user (runuser) and lives in a directory of its own (pytest's are private to root)."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="chatorical-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()

    def _as_postgres(self, program: str, *args: str, check: bool = True):
        command = [_postgres_server_program(program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=check, capture_output=True, timeout=120)

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def start(self):
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._as_postgres("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self, mode: str = "fast"):
        """`immediate`: every process quits at once, as in a crash; `fast`: a clean shutdown."""
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self):
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_postgres():
    cluster = PostgresCluster()
    yield cluster
    cluster.remove()


# --- browser tests ---------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def chromium():
    """Debian's Chromium driven by Playwright (never `playwright install`); fails, saying so, without it."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: `apt-get install -y chromium chromium-driver` (.ci/run does it)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is missing: `pip install -r requirements.txt`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def screenshot(page, name: str, **options):
    """Saves a screenshot under test-artifacts/ (git-ignored); options go to Playwright (full_page=True)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), **options)
