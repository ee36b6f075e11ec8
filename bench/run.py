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
PARTS = ["realtime", "telegram_bridge", "limiter"]


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
    print(f"written {HERE / 'results.json'}")


if __name__ == "__main__":
    main()
