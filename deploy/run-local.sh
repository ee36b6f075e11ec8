#!/usr/bin/env bash
# Starts what one machine needs: migrations, the Celery worker (with beat), and daphne.
# Without DATABASE_URL / REDIS_URL it runs on embedded defaults and says which.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT="${PORT:-4012}"
export PORT
# Runtime files (beat's schedule, the dev admin login, the embedded database) live here, ignored by git.
mkdir -p var

# Stops at once, naming the problem, if PostgreSQL or Redis cannot be used; creates a missing dev database.
$BIN/python manage.py preflight
$BIN/python manage.py migrate --noinput
# The admin's styles and the API docs' assets, compressed under hashed names (served by WhiteNoise).
$BIN/python manage.py collectstatic --noinput --verbosity 0

# The worker's prefork children and daphne count into one directory; daphne's /metrics
# serves their sum (chatorical/metrics.py). Emptied at start: old processes' files are stale.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

# The worker is restarted whenever it exits, whatever the cause (a broker it could not
# ride out, a crash): nothing is lost, events wait in PostgreSQL for the outbox sweep.
WORKER_RESTART_SECONDS="${WORKER_RESTART_SECONDS:-2}"
supervise_worker() {
  local child=""
  trap '[ -n "$child" ] && kill "$child" 2>/dev/null; wait; exit 0' INT TERM
  while true; do
    $BIN/celery -A chatorical worker --beat --schedule var/celerybeat-schedule --loglevel INFO --concurrency 2 &
    child=$!
    wait "$child" && status=0 || status=$?
    echo "celery worker exited (status $status); restarting in ${WORKER_RESTART_SECONDS} s" >&2
    sleep "$WORKER_RESTART_SECONDS"
  done
}

# --- Bot API sandbox: with no bot configured, a local stand-in for Telegram (dev only) ---
sandbox_pid=""
worker_pid=""
trap '[ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null; [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null; wait' EXIT INT TERM
if [ -z "${BOT_TOKEN:-}" ] && [ "${DJANGO_ENV:-dev}" = "dev" ]; then
  export TELEGRAM_SANDBOX=1
  # The webhook's header secret, drawn per run: the sandbox sends it with every update.
  TELEGRAM_HEADER_SECRET="${TELEGRAM_HEADER_SECRET:-$($BIN/python -c 'import secrets; print(secrets.token_urlsafe(32))')}"
  export TELEGRAM_HEADER_SECRET
  $BIN/python manage.py telegram_sandbox &
  sandbox_pid=$!
fi

if [ "${DJANGO_ENV:-dev}" = "dev" ]; then
  # Creates the admin login and the demo tenant once; `manage.py demo` resets them.
  $BIN/python manage.py demo --keep
fi

if [ -n "${REDIS_URL:-}" ]; then
  supervise_worker &
  worker_pid=$!
fi

echo "Chatorical on http://127.0.0.1:${PORT}/ (widget: /widget.js)"
# A longer WebSocket frame closes the socket before the application sees it (settings.py).
ws_max_bytes="${WS_SERVER_MAX_BYTES:-1048576}"
$BIN/python -m chatorical.server -b 0.0.0.0 -p "$PORT" --websocket-max-frame-size "$ws_max_bytes" \
  --websocket-max-message-size "$ws_max_bytes" chatorical.asgi:application
