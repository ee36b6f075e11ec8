#!/usr/bin/env bash
# Starts what one machine needs: migrations, the Celery worker (with beat), and daphne.
# Without DATABASE_URL / REDIS_URL it runs on embedded defaults and says which.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT="${PORT:-4012}"

$BIN/python manage.py migrate --noinput
$BIN/python manage.py shell -c '
from django.conf import settings
for line in settings.EMBEDDED_DEFAULTS:
    print(f"embedded default -> {line}")
if settings.EMBEDDED_DEFAULTS:
    print("Set DATABASE_URL and REDIS_URL to run on PostgreSQL and Redis.")
'

# The worker's prefork children and daphne count into one directory; daphne's /metrics
# serves their sum (chatorical/metrics.py). Emptied at start: old processes' files are stale.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

worker_pid=""
if [ -n "${REDIS_URL:-}" ]; then
  $BIN/celery -A chatorical worker --beat --loglevel INFO --concurrency 2 &
  worker_pid=$!
  trap '[ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null; wait' EXIT INT TERM
fi

echo "Chatorical on http://127.0.0.1:${PORT}/ (widget: /widget.js)"
$BIN/daphne -b 0.0.0.0 -p "$PORT" chatorical.asgi:application
