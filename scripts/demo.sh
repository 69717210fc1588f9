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

# The e-licence API (when the catalog reads it) on a free loopback port, or DEMO_API_PORT; the
# command returns once the server answers this checkout's token, else fails with its own error.
api_env="$(python -m baselib.cli start-certificates)"
eval "$api_env"
if [ -n "${DEMO_API_PID:-}" ]; then
  trap 'kill "$DEMO_API_PID" 2>/dev/null || true' EXIT
  echo "== e-licence API on loopback"
  tail -1 "$AIRFLOW_HOME/e-licence-api.log"
fi

for dag_id in $(python -c 'from baselib.catalog import load_catalog; print(" ".join(r.dag_id for r in load_catalog()))'); do
  echo "== airflow dags test $dag_id $LOGICAL_DATE"
  log="$AIRFLOW_HOME/dags-test-$dag_id.log"
  if ! airflow dags test "$dag_id" "$LOGICAL_DATE" >"$log" 2>&1; then
    tail -60 "$log"; echo "DAG $dag_id failed; full log: $log"
    if [ -n "${DEMO_API_PID:-}" ] && ! kill -0 "$DEMO_API_PID" 2>/dev/null; then
      echo "the demo's e-licence API has stopped; its output:"; cat "$AIRFLOW_HOME/e-licence-api.log"
    fi
    exit 1
  fi
  echo "   ok (log: $log)"
done

python -m baselib.cli summary
