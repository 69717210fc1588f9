#!/usr/bin/env bash
# make demo: warehouse (embedded PostgreSQL unless WAREHOUSE_URL is set), Airflow metadata DB,
# simulated department sources (and the e-licence API on loopback), then every catalog DAG
# through Airflow for a fixed logical date, in catalog order (base libraries others check against first).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
LOGICAL_DATE="${DEMO_LOGICAL_DATE:-2026-11-02}"   # data interval: 2026-11-01 in Asia/Shanghai
ROWS="${DEMO_ROWS:-20000}"

eval "$(PYTHONPATH=plugins python -m baselib.cli env)"
echo "warehouse: $WAREHOUSE_URL"

mkdir -p "$AIRFLOW_HOME"
echo "== Airflow metadata database ($AIRFLOW_HOME)"
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -50 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }

echo "== Simulated department sources"
python -m baselib.cli simulate --rows "$ROWS"

if [ -n "${AIRFLOW_CONN_E_LICENCE_API:-}" ]; then
  echo "== e-licence API on loopback"
  python -m baselib.cli serve-certificates >"$AIRFLOW_HOME/e-licence-api.log" 2>&1 &
  api_pid=$!
  trap 'kill "$api_pid" 2>/dev/null || true' EXIT
  python - <<'PY'
import os, socket, sys, time
from urllib.parse import urlsplit
uri = urlsplit(os.environ["AIRFLOW_CONN_E_LICENCE_API"])
for _ in range(100):
    try:
        socket.create_connection((uri.hostname, uri.port), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(f"the e-licence API did not start on {uri.hostname}:{uri.port}")
PY
  tail -1 "$AIRFLOW_HOME/e-licence-api.log"
fi

for dag_id in $(python -c 'from baselib.catalog import load_catalog; print(" ".join(r.dag_id for r in load_catalog()))'); do
  echo "== airflow dags test $dag_id $LOGICAL_DATE"
  log="$AIRFLOW_HOME/dags-test-$dag_id.log"
  if ! airflow dags test "$dag_id" "$LOGICAL_DATE" >"$log" 2>&1; then
    tail -60 "$log"; echo "DAG $dag_id failed; full log: $log"; exit 1
  fi
  echo "   ok (log: $log)"
done

python -m baselib.cli summary
