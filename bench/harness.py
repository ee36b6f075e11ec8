"""What every benchmark needs: a migrated database of its own, real processes, figures.

Benchmarks run by hand (`.venv/bin/python bench/<name>.py`) against the PostgreSQL server
of DATABASE_URL (127.0.0.1 unless set), in the database `support_chat_bench` (created afresh
and migrated by each benchmark), and a Redis server of their own (a private `redis-server`
on a spare port, started by setup()), so they never touch development or test data and
the Redis figures hold only the benchmark's work.
"""

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatorical.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/support_chat_bench")
os.environ.setdefault("REDIS_KEY_PREFIX", "scv2bench")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("RATE_LIMIT_SCALE", "100000")


# The benchmark's own redis-server (setup() starts it): its pid is the "redis" of the figures.
redis_process: subprocess.Popen | None = None


def setup() -> None:
    """Starts the benchmark's Redis, creates the bench database afresh and migrates it, then
    sets Django up in this process."""
    _start_redis()
    reset()

    import django

    django.setup()
    # `timeout` and Ctrl-C end a benchmark through its finally blocks, which stop the
    # servers and workers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def reset() -> None:
    """A fresh bench database, migrated, and an empty Redis: what each run (and each
    profile of a run) starts from.

    Fresh each time, because the PostgreSQL of this machine runs with autovacuum off: a
    database kept from earlier runs carries their dead rows, and each run would measure a
    slower database than the last. Within a run, vacuum() stands in for autovacuum. An
    empty Redis, because a queue or send budget left by a profile would carry into the next."""
    with _admin_connection("postgres") as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database_name()}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{database_name()}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushall()


def _start_redis() -> None:
    global redis_process
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="chatorical-bench-redis-")
    redis_process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir, "--logfile", f"{workdir}/redis.log"],
    )  # fmt: skip
    atexit.register(_stop_redis)
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}"
    import redis

    client, deadline = redis.Redis(port=port), time.monotonic() + 10
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stop_redis() -> None:
    if redis_process and redis_process.poll() is None:
        redis_process.terminate()
        redis_process.wait(timeout=10)


def vacuum() -> None:
    """What autovacuum would have done by now in a deployment: dead rows cleared, statistics fresh."""
    with _admin_connection(database_name()) as connection:
        connection.execute("VACUUM (ANALYZE)")


def database_name() -> str:
    import dj_database_url

    return dj_database_url.parse(os.environ["DATABASE_URL"])["NAME"]


def _admin_connection(dbname: str):
    import dj_database_url
    import psycopg

    db = dj_database_url.parse(os.environ["DATABASE_URL"])
    return psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=dbname, autocommit=True)


def percentiles(samples: list[float]) -> dict:
    """p50/p95/p99/max of latencies in seconds, as milliseconds."""
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}

    def at(q):
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 2)

    return {
        "n": len(ordered),
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


class CpuMeter:
    """CPU time of the benchmark's processes over a window, by role: each role's process
    tree (the servers, the worker), the benchmark's Redis, PostgreSQL and this process (the
    load generator, with the fake Bot API's threads when it runs).

    PostgreSQL is the backends connected to the bench database (found in pg_stat_activity)
    plus the server's own processes (checkpointer, background and WAL writers, launchers):
    those serve every database of the server, so writes of other users of a shared server
    count too. A backend that exits within the window loses its share (the pools keep
    theirs open)."""

    def __init__(self, roles: dict[str, int], database: str | None = None):
        self.roles = {**roles, "generator": os.getpid()}
        if redis_process:
            self.roles["redis"] = redis_process.pid
        self.database = database
        self.started_at, self.before = time.monotonic(), self._ticks()

    def stop(self) -> dict:
        """{"seconds", "cpu_seconds": role -> s, "percent": role -> % of one core}."""
        elapsed, after = time.monotonic() - self.started_at, self._ticks()
        hz = os.sysconf("SC_CLK_TCK")
        seconds = dict.fromkeys([*self.roles, *(["postgres"] if self.database else [])], 0.0)
        for pid, (role, ticks) in after.items():
            seconds[role] += (ticks - self.before.get(pid, (role, 0))[1]) / hz
        return {
            "seconds": round(elapsed, 2),
            "cpu_seconds": {role: round(s, 3) for role, s in seconds.items()},
            "percent": {role: round(100 * s / elapsed) for role, s in seconds.items()},
        }

    def _ticks(self) -> dict:
        """pid -> (role, CPU ticks) of every measured process."""
        processes = _processes()
        role_of_root = {root: role for role, root in self.roles.items()}
        found = {}
        for pid, (_, _, used) in processes.items():
            role = _nearest_root(pid, role_of_root, processes)
            if role:
                found[pid] = (role, used)
        for pid in _postgres_pids(self.database) if self.database else ():
            if pid in processes:
                found[pid] = ("postgres", processes[pid][2])
        return found


def _postgres_pids(database: str) -> list[int]:
    with _admin_connection("postgres") as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = %s OR (datname IS NULL AND backend_type <> 'client backend')",
            [database],
        ).fetchall()
    return [pid for (pid,) in rows]


def _processes() -> dict:
    """pid -> (parent pid, command name, user + system clock ticks) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            found[int(entry.name)] = (int(fields[1]), name, int(fields[11]) + int(fields[12]))
    return found


def _nearest_root(pid: int, role_of_root: dict, processes: dict) -> str | None:
    """The role of the closest of pid and its ancestors that is a role's root: the servers
    are this process's children, yet theirs, not the generator's."""
    while pid > 1:
        if pid in role_of_root:
            return role_of_root[pid]
        pid = processes.get(pid, (0,))[0]
    return None


@contextlib.contextmanager
def paused(roots: list[int]):
    """Stops these processes and their children (SIGSTOP) while the block runs, and lets
    them go on after it (SIGCONT): servers measured side by side do not stir (timers,
    pings, a worker's polls) while the others are measured. Their sockets stay open."""
    processes = _processes()
    tree = [pid for pid in processes if _nearest_root(pid, dict.fromkeys(roots, "paused"), processes)]
    for pid in tree:
        _signal(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in tree:
            _signal(pid, signal.SIGCONT)


def _signal(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # a child that exited since the listing
        os.kill(pid, number)


# The webhook header secret of the benchmarks' default tenant.
HEADER_SECRET = "bench-header-secret"


def fake_telegram(*, limits: bool):
    """The fake Bot API from the tests (started by `with`), with the default bot and group;
    with `limits`, Telegram's (20 posts a minute into a group, 30 a second per bot, a 429
    with retry_after past them), else none."""
    from telegram_bridge.testing.fake_bot_api import FakeBotApi
    from telegram_bridge.testing.fixtures import DEFAULT_BOT_TOKEN, DEFAULT_CHAT_ID

    fake = FakeBotApi() if limits else FakeBotApi(group_per_minute=None, bot_per_second=None)
    fake.add_bot(DEFAULT_BOT_TOKEN)
    fake.add_supergroup(DEFAULT_CHAT_ID)
    return fake


def process_env(fake, *, budgets_off: bool) -> dict:
    """What the benchmark's daphne and Celery processes need: the default tenant's bot and
    support group on the fake (every conversation of the default tenant goes to that one
    group). With `budgets_off`, Telegram's send budgets are raised out of the way and the
    outbox swept every second, so the worker posts every message; else every setting keeps
    its default, as a deployment runs."""
    from telegram_bridge.testing.fixtures import DEFAULT_BOT_TOKEN, DEFAULT_CHAT_ID

    env = {
        "TELEGRAM_API_BASE": fake.base_url,
        "BOT_TOKEN": DEFAULT_BOT_TOKEN,
        "SUPPORT_GROUP_ID": DEFAULT_CHAT_ID,
        "TELEGRAM_HEADER_SECRET": HEADER_SECRET,
        "LOG_LEVEL": "WARNING",
    }
    if budgets_off:
        env.update(
            TELEGRAM_GROUP_POSTS_PER_MINUTE=10**9,
            TELEGRAM_BOT_POSTS_PER_SECOND=10**9,
            OUTBOX_SWEEP_SECONDS=1,
        )
    return env


class PostConnection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and returns (status, body), and
    the moment its request was written: a latency timed from there holds the server's time
    only. httpx spends milliseconds of the load generator's CPU building a request (a
    trivial ASGI answer on daphne: about 5 ms through httpx, 1.5 ms on a socket), which
    would otherwise count as the server's."""

    def __init__(self, url: str, headers: dict[str, str]):
        host_port = url.split("://", 1)[1]
        self.host, self.port = host_port.rsplit(":", 1)
        self.headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes, float]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, int(self.port))
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{self.headers}\r\n"
        )
        written = time.monotonic()
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length), written

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
