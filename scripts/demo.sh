#!/usr/bin/env bash
# make demo: warehouse (embedded PostgreSQL unless WAREHOUSE_URL is set), Airflow metadata DB
# (PostgreSQL database airflow_metadata on the same server), simulated department sources (and
# the e-licence and court APIs on loopback), a real Airflow scheduler + dag-processor + triggerer + api-server,
# then every base-library and department DAG through Airflow for a fixed logical date, in catalog
# order. The theme DAGs are not called: they are unpaused, and the scheduler starts them because
# their inputs' Assets were updated by those loads. The demo waits for each theme's asset-triggered
# run, stops every Airflow process it started (by pid), then runs the sharing part
# (scripts/demo_sharing.sh: consumers, applications, the sharing_reconcile DAG, a consumer session),
# the quality and evaluation part (scripts/demo_quality.sh: trend pages, returns, publishing, the
# yearly report) and prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
LOGICAL_DATE="${DEMO_LOGICAL_DATE:-2026-11-02}"   # data interval: 2026-11-01 in Asia/Shanghai
ROWS="${DEMO_ROWS:-20000}"
THEME_TIMEOUT="${DEMO_THEME_TIMEOUT:-900}"      # seconds to wait for the themes' asset-triggered runs

eval "$(PYTHONPATH=plugins python -m baselib.cli env)"
echo "warehouse: $WAREHOUSE_URL"

mkdir -p "$AIRFLOW_HOME"
eval "$(python -m baselib.orchestration.local_airflow env)"
echo "== Airflow metadata database (PostgreSQL; home $AIRFLOW_HOME; executor $AIRFLOW__CORE__EXECUTOR)"
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -50 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
# OpenLineage events of every task (source -> base table, inputs -> theme table), one JSON per line
LINEAGE_FILE="$AIRFLOW_HOME/openlineage.jsonl"
if [ -z "${AIRFLOW__OPENLINEAGE__TRANSPORT:-}" ]; then
  rm -f "$LINEAGE_FILE"
  export AIRFLOW__OPENLINEAGE__TRANSPORT="{\"type\": \"file\", \"log_file_path\": \"$LINEAGE_FILE\", \"append\": true}"
fi
export AIRFLOW__OPENLINEAGE__NAMESPACE="${AIRFLOW__OPENLINEAGE__NAMESPACE:-baselib-demo}"

echo "== Simulated department sources"
python -m baselib.cli simulate --rows "$ROWS"

cleanup() {
  python -m baselib.orchestration.local_airflow stop || true
  if [ -n "${DEMO_API_PID:-}" ]; then kill "$DEMO_API_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
# bash skips the EXIT trap when SIGTERM ends it: make the signals an exit, so cleanup stops Airflow
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM

# The simulated APIs the catalog reads (e-licence, court) on free loopback ports, or DEMO_API_PORT; the
# command returns once every server answers, else fails with its own error.
api_env="$(python -m baselib.cli start-apis)"
eval "$api_env"
if [ -n "${DEMO_API_PID:-}" ]; then
  echo "== simulated APIs (e-licence, court) on loopback"
  cat "$AIRFLOW_HOME/e-licence-api.log"
fi

echo "== Airflow api-server, dag-processor, scheduler and triggerer (logs in $AIRFLOW_HOME)"
python -m baselib.orchestration.local_airflow start
# Only the themes run by the scheduler here: every other DAG runs once through `airflow dags test` below.
# A `make up` on this checkout unpaused them all in the same metadata database; pause them again, or the
# scheduler's runs of the same DAGs would collide with the test runs.
python -m baselib.orchestration.local_airflow pause-all
python -m baselib.orchestration.local_airflow unpause-themes
since="$(date -u +%Y-%m-%dT%H:%M:%S+00:00)"

for dag_id in $(python -c 'from baselib.catalog import load_catalog; print(" ".join(r.dag_id for r in load_catalog() if not r.is_theme))'); do
  echo "== airflow dags test $dag_id $LOGICAL_DATE"
  log="$AIRFLOW_HOME/dags-test-$dag_id.log"
  if ! airflow dags test "$dag_id" "$LOGICAL_DATE" >"$log" 2>&1; then
    tail -60 "$log"; echo "DAG $dag_id failed; full log: $log"
    if [ -n "${DEMO_API_PID:-}" ] && ! kill -0 "$DEMO_API_PID" 2>/dev/null; then
      echo "the demo's simulated APIs have stopped; their output:"; cat "$AIRFLOW_HOME/e-licence-api.log"
    fi
    exit 1
  fi
  echo "   ok (log: $log)"
done

echo "== Themes: waiting for the scheduler's asset-triggered runs (timeout ${THEME_TIMEOUT}s)"
python -m baselib.orchestration.local_airflow wait-themes --since "$since" --timeout "$THEME_TIMEOUT"
cleanup
trap - EXIT

# Sharing: consumers' login roles, applications of each sharing type decided through the CLI, the
# grant DAG through Airflow, a real consumer session, measured use and a data objection.
# the consumers' passwords (generated when unset, mode 600): the summary names this file
export BASELIB_CONSUMER_PASSWORDS_FILE="${BASELIB_CONSUMER_PASSWORDS_FILE:-$AIRFLOW_HOME/consumers.env}"
bash scripts/demo_sharing.sh
echo "Sharing applications (python -m baselib.cli sharing list):"
python -m baselib.cli sharing list

# Quality and evaluation: history, trend pages, returns to providers, publishing to the (simulated)
# evaluation system through Airflow, and the yearly sharing report.
bash scripts/demo_quality.sh

python -m baselib.cli summary
if [ -f "$LINEAGE_FILE" ]; then
  echo "Lineage: $(wc -l <"$LINEAGE_FILE") OpenLineage events in $LINEAGE_FILE"
fi
