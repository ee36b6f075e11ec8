"""The release test's stand-in for `systemctl start|restart chatorical-web@PORT`.

    python -m deploy.tests.webctl start|restart STATE_DIR PORT
    python -m deploy.tests.webctl workers STATE_DIR

Instances run detached, as systemd's would; their pids live in STATE_DIR/web-PORT.pid, and
each restart (of an instance, or "workers") is appended to STATE_DIR/restarts.log, before
the old instance is stopped.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    while alive(pid):
        time.sleep(0.05)


def start(port: str, state_dir: Path) -> None:
    with open(state_dir / f"web-{port}.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "chatorical.server", "-b", "127.0.0.1", "-p", port, "chatorical.asgi:application"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (state_dir / f"web-{port}.pid").write_text(str(process.pid))


def main(action: str, state_dir: str, port: str = "") -> None:
    state = Path(state_dir)
    if action in ("restart", "workers"):
        with open(state / "restarts.log", "a") as log:
            log.write(f"web {port}\n" if port else "workers\n")
    if action == "restart":
        stop(int((state / f"web-{port}.pid").read_text()))
    if action in ("start", "restart"):
        start(port, state)


if __name__ == "__main__":
    main(*sys.argv[1:])
