"""`make run`'s development set-up as real processes: daphne, the Bot API sandbox
(`manage.py telegram_sandbox`) and a Celery worker, on the test database."""

import secrets
import subprocess
import sys
import time

import httpx
import pytest

from chatorical.testing import ROOT, WorkerProcess, free_port, process_env

WAIT_SECONDS = 30


class SandboxDeployment:
    def __init__(self, *, start_server, tmp_path):
        self.sandbox_port = free_port()
        self.env = {
            "TELEGRAM_SANDBOX": "1",
            "TELEGRAM_SANDBOX_PORT": self.sandbox_port,
            "TELEGRAM_HEADER_SECRET": secrets.token_urlsafe(24),
            # Our own send budget out of the way; the sandbox still applies Telegram's limits.
            "TELEGRAM_GROUP_POSTS_PER_MINUTE": 10_000,
            "TELEGRAM_BOT_POSTS_PER_SECOND": 10_000,
            "OUTBOX_SWEEP_SECONDS": 1,
        }
        self.server = start_server(**self.env)
        self.sandbox_log = tmp_path / "sandbox.log"
        with open(self.sandbox_log, "wb") as log:
            self.sandbox = subprocess.Popen(
                [sys.executable, "manage.py", "telegram_sandbox", "--webhook-base", self.server.url],
                cwd=ROOT,
                env=process_env(**self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.worker = WorkerProcess(tmp_path, **self.env)
        self.http = httpx.Client(base_url=self.server.url, timeout=10)

    def wait_ready(self):
        def webhook_set():
            try:
                state = httpx.get(f"http://127.0.0.1:{self.sandbox_port}/sandbox/state", timeout=1).json()
            except httpx.HTTPError:
                return None
            return state["webhook"]

        self.wait_for(webhook_set, "the sandbox to start and its webhook to be set")

    def stop(self):
        self.http.close()
        self.worker.stop()
        self.sandbox.terminate()
        self.sandbox.wait(timeout=10)

    def state(self) -> dict:
        response = self.http.get("/dev/support-group/api/state")
        if response.status_code != 200:
            raise AssertionError(f"{response.status_code} {response.text}; sandbox: {self.sandbox_log.read_text()}")
        return response.json()

    def act(self, action: str, body: dict) -> httpx.Response:
        if "csrftoken" not in self.http.cookies:
            self.http.get("/dev/support-group/")
        return self.http.post(
            f"/dev/support-group/api/{action}", json=body, headers={"X-CSRFToken": self.http.cookies["csrftoken"]}
        )

    def wait_for(self, predicate, what: str, timeout: float = WAIT_SECONDS):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                logs = f"sandbox: {self.sandbox_log.read_text()}\nworker: {self.worker.log_path.read_text()[-3000:]}"
                raise AssertionError(f"timed out waiting for {what}; {logs}")
            time.sleep(0.1)

    def topic(self, name: str) -> dict | None:
        return next((topic for topic in self.state()["topics"] if topic["name"].startswith(name)), None)

    def header(self, name: str) -> dict:
        """The topic's pinned header post, with its Claim button, once the worker posted it."""

        def pinned():
            topic = self.topic(name)
            return topic and next((m for m in topic["messages"] if m["pinned"]), None)

        return self.wait_for(pinned, f"the pinned header of {name}")


@pytest.fixture
def sandbox_deployment(default_tenant, start_server, tmp_path):
    deployment = SandboxDeployment(start_server=start_server, tmp_path=tmp_path)
    try:
        deployment.wait_ready()
        yield deployment
    finally:
        deployment.stop()
