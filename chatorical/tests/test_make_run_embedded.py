"""Smoke test of `make run` on a machine with no DATABASE_URL / REDIS_URL.

The one place the suite uses the embedded stand-ins (SQLite, in-process channel layer),
because that fallback is itself the feature under test.
"""

import os
import signal
import subprocess
import time

import httpx
import pytest

from chatorical.testing import ROOT, free_port

# The tests that run deploy/run-local.sh share its var/ directory: one pytest-xdist worker runs them.
pytestmark = [pytest.mark.processes, pytest.mark.xdist_group("run-local")]


def untracked_files() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(listed.stdout.splitlines())


def test_run_script_falls_back_to_embedded_defaults_and_says_so(tmp_path):
    untracked_before = untracked_files()
    port, sandbox_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "BOT_TOKEN", "TELEGRAM_HEADER_SECRET")
    }
    metrics_token = "m" * 40  # /ready's detail is for operators only
    env.update(
        PORT=str(port),
        TELEGRAM_SANDBOX_PORT=str(sandbox_port),
        STATIC_ROOT=str(tmp_path / "static"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        METRICS_TOKEN=metrics_token,
    )
    log = tmp_path / "run.log"
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(ROOT / "deploy" / "run-local.sh")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"make run never answered: {log.read_text()[-2000:]}")
        output = log.read_text()
        assert "embedded default -> database: SQLite" in output
        assert "embedded default -> channel layer: in-process memory" in output
        assert f"Admin: {base}/admin/  user " in output
        assert "objects imported automatically" not in output

        # The front page, a styled admin (hashed, compressed static files), /ready honest.
        assert httpx.get(f"{base}/").status_code == 200
        login_page = httpx.get(f"{base}/admin/login/").text
        stylesheet = next(href for href in login_page.split('"') if href.startswith("/static/admin/css/base."))
        assert stylesheet != "/static/admin/css/base.css", "collectstatic gave it a hashed name"
        css = httpx.get(f"{base}{stylesheet}", headers={"Accept-Encoding": "gzip"})
        assert css.status_code == 200 and css.headers["content-encoding"] == "gzip"
        assert "immutable" in css.headers["cache-control"]
        checks = httpx.get(f"{base}/ready", headers={"Authorization": f"Bearer {metrics_token}"}).json()["checks"]
        assert checks["redis"] == {"ok": True, "mode": "embedded"}

        # A visitor's conversation opens a topic in the sandbox's support group.
        started = httpx.post(f"{base}/v1/start", json={"name": "Smoke"})
        assert started.status_code == 201, started.text
        state = httpx.get(f"{base}/dev/support-group/api/state").json()
        assert state["webhook"] == {"url": f"{base}/v1/telegram/webhook", "secret_token_set": True}
        assert "Smoke" in [topic["name"] for topic in state["topics"]]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    assert untracked_files() == untracked_before, "a run leaves files outside var/"
