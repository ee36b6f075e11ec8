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

pytestmark = pytest.mark.processes


def test_run_script_falls_back_to_embedded_defaults_and_says_so(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env["PORT"] = str(port)
    log = tmp_path / "run.log"
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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"make run never answered: {log.read_text()[-2000:]}")
        started = httpx.post(f"http://127.0.0.1:{port}/v1/start", json={"name": "Smoke"})
        assert started.status_code == 201, started.text
        output = log.read_text()
        assert "embedded default -> database: SQLite" in output
        assert "embedded default -> channel layer: in-process memory" in output
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
