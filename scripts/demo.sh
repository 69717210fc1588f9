#!/usr/bin/env bash
# make demo: warehouse (embedded PostgreSQL unless WAREHOUSE_URL is set), Airflow metadata DB,
# simulated department source, then the population DAG through Airflow for a fixed logical date.
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

echo "== Simulated department source"
python -m baselib.cli simulate --rows "$ROWS"

for dag_id in $(python -c 'from baselib.catalog import load_catalog; print(" ".join(r.dag_id for r in load_catalog()))'); do
  echo "== airflow dags test $dag_id $LOGICAL_DATE"
  log="$AIRFLOW_HOME/dags-test-$dag_id.log"
  if ! airflow dags test "$dag_id" "$LOGICAL_DATE" >"$log" 2>&1; then
    tail -60 "$log"; echo "DAG $dag_id failed; full log: $log"; exit 1
  fi
  echo "   ok (log: $log)"
done

python -m baselib.cli summary
