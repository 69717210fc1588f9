#!/usr/bin/env bash
# The quality and evaluation part of `make demo` (scripts/demo.sh runs it after the sharing part, in the
# demo's environment: WAREHOUSE_URL, AIRFLOW_HOME, the Airflow metadata database).
#
# 1. a simulated history (2025-01-01 up to the demo's own data day) of runs, sync metrics, dimension
#    scores, measured use and past applications, so the indicators and the yearly report have a year to
#    work on (run ids simulated__<day>; the demo's real loads are untouched);
# 2. the trend page of every resource (each load's own report was written by its run);
# 3. one provider's returns workbook (`quality export`), then the quality_returns DAG through Airflow,
#    which drops every provider's workbook into its return folder and marks the entries returned;
# 4. the simulated evaluation system on loopback (bearer token in AIRFLOW_CONN_EVALUATION_API), told to
#    fail the first request with 503, then the evaluation_publish DAG through Airflow: it computes the
#    month that ended and publishes it, retrying the failed request; then the year 2025 by the CLI;
# 5. the yearly sharing report for 2025 (HTML and PDF, per department and for the platform).
# The summary (python -m baselib.cli summary) prints where each of these is.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
: "${AIRFLOW_HOME:?run through scripts/demo.sh (AIRFLOW_HOME is not set)}"
cli() { python -m baselib.cli "$@"; }
HISTORY_START="${DEMO_HISTORY_START:-2025-01-01}"
HISTORY_END="${DEMO_HISTORY_END:-2026-11-01}"     # exclusive: the demo's own loads are for 2026-11-01
REPORT_YEAR="${DEMO_REPORT_YEAR:-2025}"
RETURN_PROVIDER="${DEMO_RETURN_PROVIDER:-11360000014400005D}"   # 省公安厅: the population drop has rejected rows
PUBLISH_DATE="${DEMO_PUBLISH_DATE:-2026-11-01T02:00:00+08:00}"  # the monthly run that publishes 2026-10

echo "== Quality: simulated history $HISTORY_START .. $HISTORY_END (exclusive)"
# the e-certificates (daily, catalogued 2026-03-01) stop arriving after data day 2026-08-20: a zombie
# resource in the months after (until the demo's own load); nobody uses the place names (a never-used
# resource). Both show as flags in the indicators the evaluation_publish DAG publishes for 2026-10.
cli simulate-history --start "$HISTORY_START" --end "$HISTORY_END" \
  --zombie 105001/000001=2026-08-20 --unused 103002/000001

echo "== Quality: trend page of every resource"
cli quality trend

echo "== Returns (数据回退): one provider's workbook"
cli quality export --provider "$RETURN_PROVIDER" --output "reports/returns/demo-$RETURN_PROVIDER.xlsx"
echo "== airflow dags test quality_returns (every provider's workbook into its return folder)"
log="$AIRFLOW_HOME/dags-test-quality_returns.log"
airflow dags test quality_returns "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" >"$log" 2>&1 \
  || { tail -60 "$log"; echo "DAG quality_returns failed; full log: $log"; exit 1; }
echo "   ok (log: $log)"

echo "== Evaluation system (simulated, on loopback)"
eval "$(cli start-evaluation)"
trap 'kill "$DEMO_EVALUATION_PID" 2>/dev/null || true' EXIT
python - <<'PY'
# The evaluation system fails the next request with 503: the publish below retries it.
import os
import httpx
from baselib.sources.http_api import parse_connection
conn = parse_connection(os.environ["AIRFLOW_CONN_EVALUATION_API"])
httpx.post(f"{conn.base_url}/api/v1/_faults", json={"fail_next": 1, "status": 503},
           headers={"Authorization": f"Bearer {conn.token}"}, timeout=10).raise_for_status()
print("   the evaluation system will answer the first publish with 503 (to show the retry)")
PY
echo "== airflow dags test evaluation_publish $PUBLISH_DATE (computes and publishes the month that ended)"
log="$AIRFLOW_HOME/dags-test-evaluation_publish.log"
airflow dags test evaluation_publish "$PUBLISH_DATE" >"$log" 2>&1 \
  || { tail -60 "$log"; echo "DAG evaluation_publish failed; full log: $log"; exit 1; }
echo "   ok (log: $log)"
echo "== Evaluation: the year $REPORT_YEAR"
cli evaluation compute --period-kind year --period "$REPORT_YEAR"
cli evaluation publish --period-kind year --period "$REPORT_YEAR"
cli evaluation publications

echo "== Yearly sharing report $REPORT_YEAR (HTML and PDF)"
cli evaluation report --year "$REPORT_YEAR"
kill "$DEMO_EVALUATION_PID" 2>/dev/null || true
trap - EXIT
