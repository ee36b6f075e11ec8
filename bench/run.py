"""`make bench`: every benchmark in one run, one table on stdout and bench/results.json.

Each part boots what it measures (daphne instances, a Celery worker, the fake Bot API)
against PostgreSQL and Redis on this machine; see the module of each part.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ["realtime", "telegram_bridge", "limiter", "billing"]


def run_part(name: str) -> tuple[str, float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(HERE / f"{name}.py")], capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"bench/{name}.py failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout, time.monotonic() - started


def last_json_object(output: str) -> dict | None:
    start = output.rfind("\n{")
    try:
        return json.loads(output[start + 1 :] if start >= 0 else output)
    except ValueError:
        return None


def main():
    results = {"machine": {"cpus": __import__("os").cpu_count()}, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for name in PARTS:
        output, seconds = run_part(name)
        parsed = last_json_object(output)
        results[name] = parsed if parsed is not None else {"output": output.strip().splitlines()}
        print(f"== {name} ({seconds:.0f} s)\n{output.strip()}\n", flush=True)
    (HERE / "results.json").write_text(json.dumps(results, indent=2))
    print(summary(results))
    print(f"written {HERE / 'results.json'}")


def summary(results: dict) -> str:
    """The one table of a run: every figure a line."""
    realtime, telegram = results["realtime"], results["telegram_bridge"]
    rows = []
    for step in realtime["fan_out"]["steps"]:
        cpu = " ".join(f"{role} {percent}" for role, percent in step["cpu_percent"].items())
        rows.append(
            (
                f"fan-out {step['rate']} msg/s",
                f"sent {step['sent']}, lost {step['lost']}, p50 {step.get('p50_ms')} / p95 {step.get('p95_ms')}"
                f" / p99 {step.get('p99_ms')} / max {step.get('max_ms')} ms; CPU % {cpu}",
            )
        )
    rows.append(("highest sustained fan-out", f"{realtime['fan_out']['highest_sustained_rate']} msg/s"))
    agent = realtime["agent_to_widget"]
    rows.append(
        (
            f"agent -> widget, {agent['rate']} updates/s",
            f"lost {agent['lost']}, p50 {agent['p50_ms']} / p99 {agent['p99_ms']} ms"
            f" (webhook response p50 {agent['webhook_response']['p50_ms']} ms)",
        )
    )
    for name, idle in realtime["idle_sockets"].items():
        rows.append((f"idle sockets on {name}", f"{idle['kb_per_socket']} KB RSS each ({idle['sockets']} sockets)"))
    latency, ingest = telegram["visitor_to_telegram"], telegram["webhook_ingest"]
    rows.append(("visitor -> Bot API, idle queue", f"p50 {latency['p50_ms']} / p99 {latency['p99_ms']} ms"))
    rows.append(
        (
            "webhook ingest, one process",
            f"accepted {ingest['accepted_per_s']}/s, processed {ingest['processed_per_s']}/s,"
            f" non-200 {ingest['non_200']}",
        )
    )
    rows.append(("outbox drain, one worker", f"{telegram['outbox_drain']['events_per_s']} events/s"))
    limiter_lines = [line.strip() for line in results["limiter"]["output"]]
    rows += [("limiter", line) for line in limiter_lines if line.startswith(("PING", "sync", "async"))]
    for name, figure in results["billing"].items():
        if isinstance(figure, dict):
            rows.append(
                (
                    f"message store, {name}, usage counter",
                    f"+{figure['counter_cost_us']} µs/message ({figure['with_counter_us']} with,"
                    f" {figure['without_counter_us']} without)",
                )
            )
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


if __name__ == "__main__":
    main()
