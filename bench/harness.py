"""What every benchmark needs: a migrated database of its own, real processes, figures.

Benchmarks run by hand (`.venv/bin/python bench/<name>.py`) against PostgreSQL and Redis
on 127.0.0.1 unless DATABASE_URL / REDIS_URL say otherwise. They use the database
`support_chat_bench` (created afresh and migrated by each benchmark) and the Redis key prefix
`scv2bench`, so they never touch development or test data.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatorical.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/support_chat_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379")
os.environ.setdefault("REDIS_KEY_PREFIX", "scv2bench")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("RATE_LIMIT_SCALE", "100000")


def setup() -> None:
    """Creates the bench database afresh and migrates it, then sets Django up in this process.

    Fresh each time, because the PostgreSQL of this machine runs with autovacuum off: a
    database kept from earlier runs carries their dead rows, and each run would measure a
    slower database than the last. Within a run, vacuum() stands in for autovacuum."""
    with _admin_connection("postgres") as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{_database_name()}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{_database_name()}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)

    import django

    django.setup()
    _redis_clear()
    # `timeout` and Ctrl-C end a benchmark through its finally blocks, which stop the
    # servers and workers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def _redis_clear() -> None:
    """Drops the bench's Redis keys: a queue left by an earlier run would hand this run's
    worker thousands of stale tasks, and old limiter keys would count against it."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:*", count=1000):
        client.delete(key)


def vacuum() -> None:
    """What autovacuum would have done by now in a deployment: dead rows cleared, statistics fresh."""
    with _admin_connection(_database_name()) as connection:
        connection.execute("VACUUM (ANALYZE)")


def _database_name() -> str:
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
    """CPU use of the benchmark's processes over a step, in % of one core: each role's
    process tree (the servers, the worker), every PostgreSQL and Redis server process, and
    this process (the load generator, with the fake Bot API's threads)."""

    def __init__(self, **roles: int):
        self.roles = {**roles, "generator": os.getpid()}
        self.started_at, self.before = time.monotonic(), self._ticks()

    def percent(self) -> dict:
        elapsed, after = time.monotonic() - self.started_at, self._ticks()
        hz = os.sysconf("SC_CLK_TCK")
        return {role: round(100 * (after[role] - self.before.get(role, 0)) / hz / elapsed) for role in after}

    def _ticks(self) -> dict:
        processes = _processes()
        ticks = dict.fromkeys([*self.roles, "postgres", "redis"], 0)
        for pid, (_, name, used) in processes.items():
            role = next((r for r, root in self.roles.items() if _descends(pid, root, processes)), None)
            role = role or {"postgres": "postgres", "redis-server": "redis"}.get(name)
            if role:
                ticks[role] += used
        return ticks


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


def _descends(pid: int, root: int, processes: dict) -> bool:
    while pid > 1:
        if pid == root:
            return True
        pid = processes.get(pid, (0,))[0]
    return False


# The webhook header secret of the benchmarks' default tenant.
HEADER_SECRET = "bench-header-secret"


def fake_telegram(**limits):
    """The fake Bot API from the tests (started by `with`), with the default bot and group,
    its limits off unless given."""
    from telegram_bridge.testing.fake_bot_api import FakeBotApi
    from telegram_bridge.testing.fixtures import DEFAULT_BOT_TOKEN, DEFAULT_CHAT_ID

    fake = FakeBotApi(**{"group_per_minute": None, "bot_per_second": None, **limits})
    fake.add_bot(DEFAULT_BOT_TOKEN)
    fake.add_supergroup(DEFAULT_CHAT_ID)
    return fake


def process_env(fake) -> dict:
    """What the benchmark's daphne and Celery processes need: the default tenant's bot on
    the fake, and Telegram's send budgets out of the way (the fake's limits are off too)."""
    from telegram_bridge.testing.fixtures import DEFAULT_BOT_TOKEN, DEFAULT_CHAT_ID

    return {
        "TELEGRAM_API_BASE": fake.base_url,
        "BOT_TOKEN": DEFAULT_BOT_TOKEN,
        "SUPPORT_GROUP_ID": DEFAULT_CHAT_ID,
        "TELEGRAM_HEADER_SECRET": HEADER_SECRET,
        "TELEGRAM_GROUP_POSTS_PER_MINUTE": 10**9,
        "TELEGRAM_BOT_POSTS_PER_SECOND": 10**9,
        "OUTBOX_SWEEP_SECONDS": 1,
        "LOG_LEVEL": "WARNING",
    }
