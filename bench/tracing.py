"""What tracing costs per visitor message, run by hand: `.venv/bin/python bench/tracing.py`.

Stores MESSAGES visitor messages one at a time the way a socket does (a `ws frame` span,
the message stored in one statement, the fan-out message built), first
with tracing off, then on: the SDK with the batching OTLP/HTTP exporter sending to a
receiver in this (parent) process, and the psycopg and redis instrumentations. Each mode
runs in a child process of its own; prints per message the wall time and the CPU time of
the child (its exporting thread included): on a busy machine the wall time is mostly
waiting for PostgreSQL, the CPU time is what tracing costs.

Needs PostgreSQL at DATABASE_URL (migrated here; default database support_chat_dev) and
Redis at REDIS_URL.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MESSAGES = 3000


def child(mode: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatorical.settings")
    os.environ["LOG_LEVEL"] = "ERROR"
    import django

    django.setup()
    from django.core.management import call_command

    from chatorical import tenancy, tracing
    from conversations import realtime, services
    from conversations.models import Message
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    assert tracing.configure() == (mode == "on")
    tenant, _ = Tenant.objects.get_or_create(slug="bench-tracing", defaults={"name": "Bench"})
    samples = []
    cpu_started = time.process_time_ns()
    with tenancy.tenant_context(tenant):
        conversation = services.conversation_start(tenant=tenant, visitor_name="Bench")
        for n in range(MESSAGES):
            started = time.perf_counter_ns()
            with tracing.span("ws frame", tenant=tenant.slug):
                message = services.NewMessage(
                    conversation=conversation,
                    direction=Message.Direction.INBOUND,
                    text=f"message {n}",
                    traceparent=tracing.traceparent(),
                )
                (stored,) = services.messages_add(messages=[message], fan_out=False)
                realtime.group_message(realtime.message_event(stored))
            samples.append(time.perf_counter_ns() - started)
        cpu_us = (time.process_time_ns() - cpu_started) / 1000 / MESSAGES
        services.conversations_delete(conversation_ids=[conversation.pk])
    if mode == "on":
        from opentelemetry import trace

        trace.get_tracer_provider().force_flush()
    samples = samples[MESSAGES // 10 :]  # warmed up
    print(
        json.dumps(
            {"mean_us": statistics.fmean(samples) / 1000, "p50_us": statistics.median(samples) / 1000, "cpu_us": cpu_us}
        )
    )


def main() -> None:
    from chatorical.testing import OtlpReceiver

    receiver = OtlpReceiver()
    results = {}
    for mode in ("off", "on"):
        env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
        if mode == "on":
            env.update(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_SERVICE_NAME="bench")
        output = subprocess.run(
            [sys.executable, __file__, mode], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        results[mode] = json.loads(output.strip().splitlines()[-1])
    receiver.close()
    for mode, figures in results.items():
        print(
            f"tracing {mode:3}: wall mean {figures['mean_us']:7.1f} µs, p50 {figures['p50_us']:7.1f} µs;"
            f" CPU {figures['cpu_us']:6.1f} µs per message"
        )
    extra = results["on"]["cpu_us"] - results["off"]["cpu_us"]
    print(f"tracing adds {extra:.1f} µs of CPU per message; spans received: {len(receiver.spans)}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        child(sys.argv[1])
    else:
        main()
