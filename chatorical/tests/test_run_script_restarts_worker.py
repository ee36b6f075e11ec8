"""`make run`'s script starts the Celery worker again whenever it exits."""

import os
import signal
import subprocess
from pathlib import Path

import pytest

from chatorical.testing import ROOT, free_port, process_env, wait_until

# The tests that run deploy/run-local.sh share its var/ directory: one pytest-xdist worker runs them.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes, pytest.mark.xdist_group("run-local")]


def celery_workers(session_id: int) -> set[int]:
    """Main processes of the Celery workers in a session (not their pool children)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parent, session = int(fields[1]), int(fields[3])
        if session == session_id and b"worker" in command and any(part.endswith(b"celery") for part in command):
            found[int(proc.name)] = parent
    return {pid for pid, parent in found.items() if parent not in found}


def test_a_killed_worker_is_started_again(private_redis, tmp_path):
    env = process_env(
        REDIS_URL=private_redis.url, PORT=free_port(), WORKER_RESTART_SECONDS=0.5,
        PROMETHEUS_MULTIPROC_DIR=tmp_path / "prometheus",  # not the one of a `make run` of this tree
    )  # fmt: skip
    with open(tmp_path / "run.log", "wb") as log:
        run = subprocess.Popen(
            [str(ROOT / "deploy" / "run-local.sh")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        [first] = wait_until(lambda: celery_workers(run.pid), within=60, what="a worker started")
        os.kill(first, signal.SIGKILL)
        restarted = wait_until(lambda: celery_workers(run.pid) - {first}, within=30, what="the killed worker restarted")
        assert len(restarted) == 1
        assert "celery worker exited" in (tmp_path / "run.log").read_text()
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=30)
