"""Test helpers that start real processes (daphne, Celery) against the test database."""

import asyncio
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
import redis
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


# --- settings as a deployment meets them ---------------------------------------------------

STRONG = "s" * 40


def load_settings(code: str = "", **env) -> subprocess.CompletedProcess:
    """Runs `code` after Django loads chatorical.settings in a fresh interpreter with `env`,
    none of this run's database, Redis or secret variables."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO", "DATABASE", "REDIS", "SERVICE", "CONVERSATION"))
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="chatorical.settings")
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); from django.conf import settings; {code}"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


# What a production deployment sets, with strong secrets.
PROD = {
    "DJANGO_ENV": "prod",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "chat.example",
    "CONVERSATION_JWT_SECRET": "j" * 40,
    "SERVICE_TOKEN": STRONG,
    "DJANGO_SECRET_KEY": "k" * 40,
    "CHANNEL_CONFIG_KEYS": "ZGV2LW9ubHkta2V5LW5vdC1mb3ItcHJvZHVjdGlvbiE=",
    "WIDGET_ALLOWED_ORIGINS": "https://www.example.com",
}


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

    def _wait_healthy(self, timeout: float = 60.0):  # a loaded 2-core machine took over 20 s
        wait_answering(self.process, f"{self.url}/health", self.log_path, timeout=timeout)

    def stop(self):
        terminate(self.process)
        self._log.close()


def wait_answering(process: subprocess.Popen, url: str, log_path: Path, *, timeout: float) -> None:
    """Waits until `url` answers 200, or fails with the end of the process's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer: {log_path.read_text()[-2000:]}")


def terminate(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
    """A real Celery worker (with beat, for the sweeps) in its own process group; the solo
    pool unless `pool="prefork"` (two children)."""

    def __init__(self, tmp_path: Path, *, pool: str = "solo", **env_overrides):
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
                pool,
                *(["--concurrency", "2"] if pool == "prefork" else []),
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


def metrics_page() -> str:
    """This process's /metrics page, as Prometheus scrapes it (with the service token)."""
    from django.test import Client

    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.SERVICE_TOKEN}")
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def metric_samples(exposition: str) -> dict[tuple[str, frozenset], float]:
    """The samples of a /metrics page, keyed by (sample name, its labels as a frozenset)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def metric_value(exposition: str, name: str, **labels) -> float:
    """One sample of a /metrics page; 0 when the series does not exist (yet)."""
    return metric_samples(exposition).get((name, frozenset(labels.items())), 0.0)


class PrometheusProcess:
    """Debian's Prometheus (package prometheus) with deploy/prometheus/prometheus.yml, its
    alert rules, scraping `targets` every second with the service token as bearer."""

    def __init__(self, tmp_path: Path, targets: list[str]):
        import yaml

        config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = [str(ROOT / "deploy" / "prometheus" / rule) for rule in config["rule_files"]]
        token_file = tmp_path / "metrics-token"
        token_file.write_text(settings.SERVICE_TOKEN)
        [job] = config["scrape_configs"]
        job["authorization"]["credentials_file"] = str(token_file)
        job["static_configs"] = [{"targets": targets}]
        config_path = tmp_path / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "prometheus.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config_path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_answering(self.process, f"{self.url}/-/ready", self.log_path, timeout=30)

    def query(self, expr: str) -> dict:
        """The API's answer to an instant query: `status`, and `data` or `error`."""
        return httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()

    def get(self, path: str) -> dict:
        return httpx.get(f"{self.url}{path}", timeout=10).json()

    def stop(self):
        terminate(self.process)
        self._log.close()


def wait_until(predicate, *, what: str, within: float = 30.0, interval: float = 0.1):
    """Polls `predicate` until it returns something truthy, and returns that; fails the test,
    saying `what` did not happen, after `within` seconds."""
    deadline = time.monotonic() + within
    while not (result := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within} s: {what}")
        time.sleep(interval)
    return result


async def eventually(predicate, *, within: float = 60.0, interval: float = 0.3):
    """Polls the blocking `predicate` (in a thread) until it returns something truthy, and
    returns that; raises TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        # Polled: what it waits for happens in other processes.
        while not (result := await asyncio.to_thread(predicate)):  # noqa: ASYNC110
            await asyncio.sleep(interval)
    return result


class OtlpReceiver:
    """An OTLP/HTTP trace receiver on a free loopback port: what the processes under test
    export with the SDK's real exporter (OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url) lands in
    `spans`, each a dict of service, name, trace_id, span_id, parent_span_id, attributes."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        self.spans: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
                receiver._add(request)
                body = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _add(self, request) -> None:
        from google.protobuf.json_format import MessageToDict

        spans = []
        for resource_spans in request.resource_spans:
            resource = {kv.key: MessageToDict(kv.value) for kv in resource_spans.resource.attributes}
            service = next(iter(resource.get("service.name", {}).values()), "")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        {
                            "service": service,
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "attributes": {
                                kv.key: next(iter(MessageToDict(kv.value).values()), None) for kv in span.attributes
                            },
                        }
                    )
        with self._lock:
            self.spans.extend(spans)

    def named(self, name: str, **attributes) -> list[dict]:
        with self._lock:
            return [
                span
                for span in self.spans
                if span["name"] == name and all(span["attributes"].get(k) == v for k, v in attributes.items())
            ]

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def forget_send_budgets(*, as_after_a_restart: bool = False):
    """Every send budget unspent; unless `as_after_a_restart`, with the mark that says
    Redis did not lose them, so no restart hold applies (chatorical/ratelimit/budgets.py)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in (f"{settings.REDIS_KEY_PREFIX}:budget:*", f"{settings.REDIS_KEY_PREFIX}:*tg:*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)
    if not as_after_a_restart:
        client.set(f"{settings.REDIS_KEY_PREFIX}:budget:epoch", 1)
    client.close()
