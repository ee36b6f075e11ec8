#!/usr/bin/env bash
# A release without downtime, run from the new release's directory on each app host:
#   install, build and check the widget, collect static files, migrate under a lock, then
#   restart the web instances one at a time, each back on /ready before the next; the
#   worker and beat last.
#
# Environment (the systemd units' file, /etc/chatorical/chatorical.env, plus):
#   CHATORICAL_WEB_PORTS       ports of this host's web instances (default "8001 8002")
#   CHATORICAL_RESTART_WEB     command run with a port to restart that instance
#                              (default: systemctl restart chatorical-web@PORT)
#   CHATORICAL_RESTART_WORKERS command that restarts the worker and beat
#                              (default: systemctl restart those of them enabled here)
#   CHATORICAL_READY_TIMEOUT   seconds an instance may take to answer /ready (default 60)
# Migrations must work with the code of the previous release too (deploy/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORTS="${CHATORICAL_WEB_PORTS:-8001 8002}"
READY_TIMEOUT="${CHATORICAL_READY_TIMEOUT:-60}"

step() { echo "release: $*"; }

# The commands are word-split on purpose: "systemctl restart" or a script and its arguments.
restart_web() {
  if [ -n "${CHATORICAL_RESTART_WEB:-}" ]; then $CHATORICAL_RESTART_WEB "$1"; else systemctl restart "chatorical-web@$1"; fi
}

restart_workers() {
  if [ -n "${CHATORICAL_RESTART_WORKERS:-}" ]; then
    $CHATORICAL_RESTART_WORKERS
  else
    for unit in chatorical-worker chatorical-beat; do
      if systemctl is-enabled --quiet "$unit"; then systemctl restart "$unit"; fi
    done
  fi
}

wait_ready() {
  $BIN/python - "$1" "$READY_TIMEOUT" <<'PY'
import sys, time, urllib.request
port, timeout = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + timeout
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
            if response.status == 200:
                break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit(f"release: the instance on port {port} is not ready after {timeout:.0f} s; stopping here")
    time.sleep(0.5)
PY
}

step "install"
test -x $BIN/python || python3 -m venv .venv
$BIN/pip install --quiet --disable-pip-version-check -r requirements.txt

# The build is one of the checks: it fails when a script is over its size budget.
step "widget: checks"
if ! command -v npm >/dev/null 2>&1; then
  echo "release: npm is missing: the widget scripts are built with Node.js (apt-get install -y nodejs npm)" >&2
  exit 1
fi
# npm ci only when the lock file changed since the last install (the Makefile's stamp).
if [ ! widget_static/node_modules/.installed -nt widget_static/package-lock.json ]; then
  npm ci --prefix widget_static --ignore-scripts --no-audit --no-fund
  touch widget_static/node_modules/.installed
fi
npm run --prefix widget_static --silent build
if ! checks=$(node --test widget_static/tests/*.test.mjs 2>&1); then
  echo "$checks" >&2
  exit 1
fi

step "collect static files"
$BIN/python manage.py collectstatic --noinput -v 0

step "migrate (under the release lock)"
$BIN/python manage.py release_migrate

for port in $PORTS; do
  step "restart web on port $port"
  restart_web "$port"
  wait_ready "$port"
done

step "restart worker and beat"
restart_workers
step "done"
