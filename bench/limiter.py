"""Rate limiter benchmark, run by hand: `.venv/bin/python bench/limiter.py`.

Prints what one check costs (µs, p50/p99 over 20,000 checks, on the sync and the asyncio
client, beside a bare PING) and how exactly a limit holds when two processes hammer one
key at once.

Needs Redis at REDIS_URL (default redis://127.0.0.1:6379; the project's DB 3). Its keys
live under `<REDIS_KEY_PREFIX>:rl:0:` (prefix `scv2bench` unless set) and are removed at
the end. No database is used: the tenant is an unsaved one.
"""

import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatorical.settings")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379")
os.environ.setdefault("REDIS_KEY_PREFIX", "scv2bench")
os.environ.setdefault("LOG_LEVEL", "ERROR")  # the limiter logs every abusive key, and this is one

CHECKS = 20_000
HAMMER_SECONDS = 3.0


def setup_django():
    import django

    django.setup()


def bench_tenant(**rate_limits):
    from tenants.models import Tenant

    return Tenant(id=0, slug="bench", plan="free", rate_limits=rate_limits)


def percentiles(samples_ns: list[int]) -> str:
    samples = sorted(samples_ns)
    p50 = samples[len(samples) // 2] / 1000
    p99 = samples[int(len(samples) * 0.99)] / 1000
    return f"p50 {p50:7.1f} µs   p99 {p99:7.1f} µs   mean {statistics.fmean(samples) / 1000:7.1f} µs"


def ping_baseline(client) -> str:
    samples = []
    for _ in range(CHECKS):
        started = time.perf_counter_ns()
        client.ping()
        samples.append(time.perf_counter_ns() - started)
    return percentiles(samples)


def overhead_sync() -> str:
    from chatorical import ratelimit

    tenant = bench_tenant(webhook={"tenant": {"limit": 10**9}})
    samples = []
    for n in range(CHECKS):
        started = time.perf_counter_ns()
        ratelimit.check(name="webhook", tenant=tenant, kind="tenant", value=str(n % 1000))
        samples.append(time.perf_counter_ns() - started)
    return percentiles(samples)


async def overhead_async() -> str:
    from chatorical import ratelimit

    tenant = bench_tenant(ws_message={"socket": {"limit": 10**9}})
    samples = []
    for n in range(CHECKS):
        started = time.perf_counter_ns()
        await ratelimit.check_async(name="ws_message", tenant=tenant, kind="socket", value=str(n % 1000))
        samples.append(time.perf_counter_ns() - started)
    return percentiles(samples)


def hammer(rate_limits: dict, value: str, seconds: float, start, results) -> None:
    """One of the two processes: checks one key as fast as it can for `seconds`."""
    setup_django()
    from chatorical import ratelimit

    tenant = bench_tenant(**rate_limits)
    allowed = checks = 0
    start.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        allowed += ratelimit.check(name="conversation_start", tenant=tenant, kind="ip", value=value).allowed
        checks += 1
    results.put((allowed, checks))


def two_processes(rate_limits: dict, value: str, seconds: float) -> tuple[int, int]:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=hammer, args=(rate_limits, value, seconds, start, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    counts = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return sum(allowed for allowed, _ in counts), sum(checks for _, checks in counts)


def main():
    setup_django()
    import redis
    from django.conf import settings

    if not settings.RATE_LIMIT_REDIS_URL:
        sys.exit("REDIS_URL is empty: the limiter is off, nothing to measure.")
    client = redis.Redis.from_url(settings.RATE_LIMIT_REDIS_URL)
    pattern = f"{settings.REDIS_KEY_PREFIX}:rl:0:*"
    try:
        print(f"one check, {CHECKS:,} times (Redis at {client.connection_pool.connection_kwargs.get('host')}):")
        print(f"  PING, baseline  {ping_baseline(client)}")
        print(f"  sync client     {overhead_sync()}")
        print(f"  asyncio client  {asyncio.run(overhead_async())}")

        # One window: the period is so long that nothing leaves it during the run.
        burst = {"conversation_start": {"ip": {"limit": 1000, "period": 3600}}}
        allowed, checks = two_processes(burst, "burst", HAMMER_SECONDS)
        print(f"two processes, one key, limit 1000 per hour, {HAMMER_SECONDS:.0f} s of hammering:")
        print(f"  allowed {allowed} of {checks:,} checks (limit 1000, {allowed - 1000:+d})")

        # A sustained rate without the penalty (as api_key has it): the limit in each
        # period, and no more. With the penalty, hammering while refused keeps the key blocked.
        expected = 200 * HAMMER_SECONDS
        for max_block, label in ((0, "no penalty"), (900, "penalty, up to 15 min")):
            sustained = {"conversation_start": {"ip": {"limit": 200, "period": 1, "max_block": max_block}}}
            allowed, checks = two_processes(sustained, f"sustained-{max_block}", HAMMER_SECONDS)
            print(f"two processes, one key, limit 200 per second, {label}, {HAMMER_SECONDS:.0f} s of hammering:")
            print(f"  allowed {allowed} of {checks:,} checks (limit x periods = {expected:.0f})")
    finally:
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)


if __name__ == "__main__":
    main()
