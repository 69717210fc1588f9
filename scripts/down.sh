#!/usr/bin/env bash
# make down: stop what `make up` started — the Airflow components (by the pids recorded in
# $AIRFLOW_HOME/local-airflow.json) and the simulated APIs. The embedded PostgreSQL keeps running
# (make stop stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export PYTHONPATH="$PWD/plugins"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PWD/.airflow}"

if python -m baselib.orchestration.local_airflow status >/dev/null 2>&1; then
  python -m baselib.orchestration.local_airflow stop
  echo "Stopped the local Airflow ($AIRFLOW_HOME)."
else
  echo "No local Airflow is running for $AIRFLOW_HOME."
fi
for pidfile in "$AIRFLOW_HOME/simulated-apis.pid" "$AIRFLOW_HOME/simulated-evaluation.pid"; do
if [ -f "$pidfile" ]; then
  read -r pid started <"$pidfile" || true
  # only the process recorded (same pid and start time), not one that reuses its pid
  if [ -n "${pid:-}" ] && [ -r "/proc/$pid/stat" ] && [ "$(cut -d' ' -f22 "/proc/$pid/stat")" = "${started:-}" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "Stopped the simulated $(basename "$pidfile" .pid | sed 's/^simulated-//') service (pid $pid)."
  fi
  rm -f "$pidfile"
fi
done
