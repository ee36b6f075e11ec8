"""`make bench`: every benchmark in one run, one table on stdout and bench/results.json.

Each part boots what it measures (daphne instances, a Celery worker, the fake Bot API, a
Redis of its own) against the PostgreSQL server on this machine; see the module of each
part. The real-time part measures the project beside a minimal Channels peer in the same
run (bench/realtime.py), and the table gives each figure as a ratio to the peer's, so a
figure means the same on any machine. `BENCH_RUNS=3 make bench` repeats the real-time part
(the fan-out comparison) three times and prints min / median / max of each ratio;
`BENCH_PARTS=realtime,limiter` runs only those parts.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = os.environ.get("BENCH_PARTS", "realtime,telegram_bridge,limiter,billing,webhook_lookups").split(",")
RUNS = int(os.environ.get("BENCH_RUNS", 1))


def run_part(name: str) -> tuple[str, float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(HERE / f"{name}.py")], capture_output=True, text=True)
    if result.returncode:
        # From the first traceback: what the interpreter logs while it shuts down comes after.
        first = max(result.stderr.find("Traceback"), 0)
        error = result.stderr[first:][:6000]
        sys.exit(f"bench/{name}.py failed ({result.returncode}):\n{result.stdout[-2000:]}\n{error}")
    return result.stdout, time.monotonic() - started


def last_json_object(output: str) -> dict | None:
    start = output.rfind("\n{")
    try:
        return json.loads(output[start + 1 :] if start >= 0 else output)
    except ValueError:
        return None


def machine() -> dict:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), "unknown")
    return {"cpus": os.cpu_count(), "cpu_model": model, "load_average_at_start": list(os.getloadavg())}


def main():
    results = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "wall_seconds": {}}
    print(f"machine: {results['machine']}", flush=True)
    for name in PARTS:
        for run in range(RUNS if name == "realtime" else 1):
            label = f"{name} (run {run + 1} of {RUNS})" if name == "realtime" and RUNS > 1 else name
            output, seconds = run_part(name)
            parsed = last_json_object(output)
            parsed = parsed if parsed is not None else {"output": output.strip().splitlines()}
            if name == "realtime":
                results.setdefault("realtime_runs", []).append(parsed)
                results["realtime"] = results["realtime_runs"][0]
            else:
                results[name] = parsed
            results["wall_seconds"][label] = round(seconds)
            load = os.getloadavg()[0]
            print(f"== {label} ({seconds:.0f} s, load average {load:.1f})\n{output.strip()}\n", flush=True)
    results["ratios"] = [ratios(run, results.get("limiter")) for run in results.get("realtime_runs", [])]
    (HERE / "results.json").write_text(json.dumps(results, indent=2))
    print(summary(results))
    print(f"written {HERE / 'results.json'}")


def ratio(value, peer) -> float | None:
    return round(value / peer, 2) if value is not None and peer else None


def step_of(profile: dict, conversations: int, rate: int) -> dict:
    return next(s for s in profile["steps"] if s["conversations"] == conversations and s["rate"] == rate)


def limiter_p50s(limiter: dict) -> dict:
    """PING, sync and asyncio check: p50 in µs, from the limiter part's lines."""
    found = {}
    for line in limiter["output"]:
        label = line.strip().split(" ", 1)[0].rstrip(",")
        if label in ("PING", "sync", "asyncio"):
            found[label] = float(line.split("p50", 1)[1].split("µs", 1)[0])
    return found


def ratios(realtime: dict, limiter: dict) -> dict:
    """Each figure of the project over the peer's matching one, in one run."""
    profiles, found = realtime["profiles"], {}
    peer = profiles.get("peer")
    if not peer:
        return found
    for name in ("default", "budgets_off"):
        profile = profiles.get(name)
        if not profile:
            continue
        for conversations in (100, 500):
            step, peer_step = step_of(profile, conversations, 200), step_of(peer, conversations, 200)
            found[f"{name}: fan-out p99, 200 msg/s x {conversations}"] = ratio(
                step.get("p99_ms"), peer_step.get("p99_ms")
            )
            found[f"{name}: CPU per message, 200 msg/s x {conversations}"] = ratio(
                step["cpu_ms_per_message"], peer_step["cpu_ms_per_message"]
            )
        found[f"{name}: highest sustained fan-out"] = ratio(
            profile["highest_sustained_rate"], peer["highest_sustained_rate"]
        )
        found[f"{name}: highest sustained fan-out x 500"] = ratio(
            profile.get("highest_sustained_rate_500"), peer.get("highest_sustained_rate_500")
        )
    default = profiles.get("default")
    if default:
        found["default: agent -> widget p99 / peer fan-out p99"] = ratio(
            default["agent_to_widget"].get("p99_ms"), step_of(peer, 100, 200).get("p99_ms")
        )
        found["default: RSS per idle socket"] = ratio(idle_kb(default), idle_kb(peer))
    if limiter:
        p50s = limiter_p50s(limiter)
        found["limiter check p50 / PING p50 (sync)"] = ratio(p50s.get("sync"), p50s.get("PING"))
        found["limiter check p50 / PING p50 (asyncio)"] = ratio(p50s.get("asyncio"), p50s.get("PING"))
    return found


def idle_kb(profile: dict) -> float:
    return statistics.fmean(instance["kb_per_socket"] for instance in profile["idle_sockets"].values())


def step_line(step: dict | None) -> str:
    if step is None:
        return "—"
    figures = "/".join(f"{step.get(key, 0):.0f}" for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
    line = f"{step['lost']} lost, {figures} ms"
    if step["achieved_send_rate"] < step["rate"] * 0.95:
        line += f" (sent {step['achieved_send_rate']}/s)"
    return line


CPU_NOTE = (
    "CPU per msg: CPU seconds of A, B, the worker (wk), Redis (rds) and PostgreSQL (pg: the bench database's\n"
    "backends and the server's shared processes, which other databases' writes wake too) from the first send\n"
    "to the last arrival, per frame B received; the load generator (gen, with the fake Bot API) is left out."
)
ROLE_LABELS = {"generator": "gen", "worker": "wk", "postgres": "pg", "redis": "rds"}


def cpu_line(step: dict | None) -> str:
    if step is None:
        return "—"
    roles = " ".join(f"{ROLE_LABELS.get(role, role)} {percent}" for role, percent in step["cpu_percent"].items())
    return f"{step['cpu_ms_per_message']:.2f} ms/msg; {roles}"


def summary(results: dict) -> str:
    """The tables of a run: the three profiles side by side, the ratios, the other parts."""
    text = []
    if "realtime" in results:
        text += [profiles_table(results["realtime"]), ""]
    if any(results["ratios"]):
        text += [ratios_table(results["ratios"]), ""]
    text.append(other_parts_table(results))
    return "\n".join(text)


def profiles_table(realtime: dict) -> str:
    profiles = realtime["profiles"]
    names = [name for name in ("default", "budgets_off", "peer") if name in profiles]
    rows = [("fan-out: lost, p50/p95/p99/max", *names)]

    def find(profile, conversations, rate):
        return next((s for s in profile["steps"] if s["conversations"] == conversations and s["rate"] == rate), None)

    # The two steps at 200 msg/s first, then the search's, by rate.
    rates = sorted(
        {(s["conversations"], s["rate"]) for p in profiles.values() for s in p["steps"]},
        key=lambda step: (step[1] != 200, step[1], step[0]),
    )
    for conversations, rate in rates:
        steps = [find(profiles[name], conversations, rate) for name in names]
        rows.append((f"fan-out {rate} msg/s x {conversations}", *(step_line(s) for s in steps)))
        rows.append(("  CPU per msg; % of a core", *(cpu_line(s) for s in steps)))
        if any(s and "bot_api" in s for s in steps):
            rows.append(
                (
                    "  Bot API posts (429s)",
                    *(
                        f"{s['bot_api']['posts']} for {s['sent']} msgs ({s['bot_api']['refused_429']})"
                        if s and "bot_api" in s
                        else "—"
                        for s in steps
                    ),
                )
            )
    rows.append(
        (
            f"highest sustained (p99 <= {realtime['p99_bound_ms']} ms)",
            *(f"{profiles[name]['highest_sustained_rate']} msg/s" for name in names),
        )
    )
    rows.append(
        (
            "  over 500 conversations",
            *(f"{profiles[name].get('highest_sustained_rate_500', '—')} msg/s" for name in names),
        )
    )
    rows.append(
        (
            "RSS per idle socket, A / B",
            *(
                " / ".join(f"{i['kb_per_socket']} KB" for i in profiles[name]["idle_sockets"].values())
                if "idle_sockets" in profiles[name]
                else "—"
                for name in names
            ),
        )
    )
    if "default" in profiles:
        agent = profiles["default"]["agent_to_widget"]
        rows.append(
            (
                f"agent -> widget, {agent['rate']} updates/s",
                f"{agent['lost']} lost, p50 {agent.get('p50_ms', 0):.0f} / p99 {agent.get('p99_ms', 0):.0f} ms"
                f" (webhook answer p50 {agent['webhook_response'].get('p50_ms', 0):.0f} ms)",
                *("—" for _ in names[1:]),
            )
        )
        totals = profiles["default"]["bot_api_totals"]
        posts = f"{totals['posts']} ({totals['refused_429']} refused)"
        rows.append(("Bot API posts, whole profile", posts, *("—" for _ in names[1:])))
    return table(rows) + "\n" + CPU_NOTE


def ratios_table(runs: list[dict]) -> str:
    header = ("ratio to the peer", "this run" if len(runs) == 1 else f"min / median / max of {len(runs)} runs")
    ratio_rows = [header]
    for key in runs[0]:
        values = [run[key] for run in runs if run.get(key) is not None]
        if not values:
            ratio_rows.append((key, "—"))
        elif len(runs) == 1:
            ratio_rows.append((key, f"{values[0]}"))
        else:
            ratio_rows.append((key, f"{min(values)} / {round(statistics.median(values), 2)} / {max(values)}"))
    return table(ratio_rows)


def other_parts_table(results: dict) -> str:
    rows = [("other parts", "")]
    if telegram := results.get("telegram_bridge"):
        latency, ingest = telegram["visitor_to_telegram"], telegram["webhook_ingest"]
        rows.append(("visitor -> Bot API, idle queue", f"p50 {latency['p50_ms']} / p99 {latency['p99_ms']} ms"))
        rows.append(
            (
                "webhook ingest, one process",
                f"accepted {ingest['accepted_per_s']}/s, processed {ingest['processed_per_s']}/s,"
                f" non-200 {ingest['non_200']}",
            )
        )
        drain = telegram["outbox_drain"]
        rows.append(("outbox drain, one worker", f"{drain['messages_per_s']} messages/s in {drain['posts']} posts"))
    if limiter := results.get("limiter"):
        limiter_lines = [line.strip() for line in limiter["output"]]
        rows += [("limiter", line) for line in limiter_lines if line.startswith(("PING", "sync", "async"))]
    for name, figure in results.get("billing", {}).items():
        if isinstance(figure, dict):
            rows.append(
                (
                    f"message store, {name}, usage counter",
                    f"+{figure['counter_cost_us']} µs/message ({figure['with_counter_us']} with,"
                    f" {figure['without_counter_us']} without)",
                )
            )
    for name, figure in results.get("webhook_lookups", {}).items():
        if isinstance(figure, dict):
            rows.append(
                (f"webhook lookup, {name}", f"{figure['written']} µs written out, {figure['orm']} through the ORM")
            )
    rows.append(("wall time", ", ".join(f"{part} {seconds} s" for part, seconds in results["wall_seconds"].items())))
    return table(rows)


def table(rows: list[tuple]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


if __name__ == "__main__":
    main()
