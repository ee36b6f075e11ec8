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

# The worker is restarted whenever it exits, whatever the cause (a broker it could not
# ride out, a crash): nothing is lost, events wait in PostgreSQL for the outbox sweep.
WORKER_RESTART_SECONDS="${WORKER_RESTART_SECONDS:-2}"
supervise_worker() {
  local child=""
  trap '[ -n "$child" ] && kill "$child" 2>/dev/null; wait; exit 0' INT TERM
  while true; do
    $BIN/celery -A chatorical worker --beat --loglevel INFO --concurrency 2 &
    child=$!
    wait "$child" && status=0 || status=$?
    echo "celery worker exited (status $status); restarting in ${WORKER_RESTART_SECONDS} s" >&2
    sleep "$WORKER_RESTART_SECONDS"
  done
}

worker_pid=""
if [ -n "${REDIS_URL:-}" ]; then
  supervise_worker &
  worker_pid=$!
  trap '[ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null; wait' EXIT INT TERM
fi

echo "Chatorical on http://127.0.0.1:${PORT}/ (widget: /widget.js)"
# A longer WebSocket frame closes the socket before the application sees it (settings.py).
ws_max_bytes="${WS_SERVER_MAX_BYTES:-1048576}"
$BIN/daphne -b 0.0.0.0 -p "$PORT" --websocket-max-frame-size "$ws_max_bytes" \
  --websocket-max-message-size "$ws_max_bytes" chatorical.asgi:application
