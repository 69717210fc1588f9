#!/usr/bin/env bash
# make up: a local Airflow on this checkout that keeps running after make returns — api-server (the
# UI), scheduler, dag-processor, triggerer and, when Redis answers, CeleryExecutor with one Celery
# worker (else LocalExecutor). Warehouse: embedded PostgreSQL unless WAREHOUSE_URL is set; Airflow
# metadata: database airflow_metadata on the same server. Simulated department sources are created
# when missing and the simulated APIs (e-licence, court) started. DAGs are unpaused when deployed
# unless AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True. `make down` stops everything by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export PYTHONPATH="$PWD/plugins"
ROWS="${UP_ROWS:-20000}"

eval "$(python -m baselib.cli env)"
mkdir -p "$AIRFLOW_HOME"
if status="$(python -m baselib.orchestration.local_airflow status 2>/dev/null)"; then
  echo "The local Airflow is already running: UI at $(head -1 <<<"$status")"
  tail -n +2 <<<"$status"
  echo "Stop it with: make down"
  exit 0
fi

# Executor: Celery (Airflow's own settings; broker Redis db 2 unless AIRFLOW__CELERY__BROKER_URL is set)
# when the broker answers, else LocalExecutor — or whatever BASELIB_AIRFLOW_EXECUTOR says.
if [ -z "${BASELIB_AIRFLOW_EXECUTOR:-}" ]; then
  broker="${AIRFLOW__CELERY__BROKER_URL:-redis://127.0.0.1:6379/2}"
  # the URL through the environment, not argv (ps shows argv); errors silenced: they may quote it
  if BASELIB_PROBE_URL="$broker" python -c 'import os, redis
redis.Redis.from_url(os.environ["BASELIB_PROBE_URL"], socket_timeout=2).ping()' 2>/dev/null; then
    export BASELIB_AIRFLOW_EXECUTOR=CeleryExecutor AIRFLOW__CELERY__BROKER_URL="$broker"
  else
    export BASELIB_AIRFLOW_EXECUTOR=LocalExecutor
    echo "No Redis answers at $(printf %s "$broker" | python -m baselib.orchestration.local_airflow show-url):" \
      "using LocalExecutor (tasks run as children of the scheduler, no Celery worker)."
  fi
fi
# DAGs unpaused when deployed (the documented setting; AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True keeps them paused)
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
# a stable UI address: 8080 unless taken (or AIRFLOW__API__PORT is set)
if [ -z "${AIRFLOW__API__PORT:-}" ]; then
  AIRFLOW__API__PORT="$(python -c 'import socket
s = socket.socket()
try:
    s.bind(("127.0.0.1", 8080)); print(8080)
except OSError:
    s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])
finally:
    s.close()')"
  export AIRFLOW__API__PORT
fi

eval "$(python -m baselib.orchestration.local_airflow env)"
echo "== Airflow metadata database (PostgreSQL; home $AIRFLOW_HOME; executor $AIRFLOW__CORE__EXECUTOR)"
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -50 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }

# Simulated department sources, once (UP_RESIMULATE=1 recreates them)
marker="$AIRFLOW_HOME/simulated-sources.done"
if [ ! -f "$marker" ] || [ -n "${UP_RESIMULATE:-}" ]; then
  echo "== Simulated department sources ($ROWS rows)"
  python -m baselib.cli simulate --rows "$ROWS"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$marker"
fi

# The simulated APIs the catalog reads (e-licence, court), detached; down.sh stops them by pid
api_env="$(python -m baselib.cli start-apis)"
eval "$api_env"
if [ -n "${DEMO_API_PID:-}" ]; then
  echo "$DEMO_API_PID $(cut -d' ' -f22 "/proc/$DEMO_API_PID/stat")" >"$AIRFLOW_HOME/simulated-apis.pid"
fi

# The simulated evaluation system (the evaluation_publish DAG's target), detached; down.sh stops it by pid
eval "$(python -m baselib.cli start-evaluation)"
echo "$DEMO_EVALUATION_PID $(cut -d' ' -f22 "/proc/$DEMO_EVALUATION_PID/stat")" >"$AIRFLOW_HOME/simulated-evaluation.pid"

# The deployment's environment for the airflow CLI and the backfill wrapper in another shell
# (`source .airflow/up.env`): metadata database, folders, connections; not the api-server's secrets.
( umask 077; export -p | grep -E '^declare -x (AIRFLOW|BASELIB_|WAREHOUSE_URL|PYTHONPATH)' \
    | grep -vE '^declare -x AIRFLOW__(API_AUTH__JWT_SECRET|API__SECRET_KEY)=' >"$AIRFLOW_HOME/up.env" )

components="api-server, scheduler, dag-processor, triggerer"
if [ "$AIRFLOW__CORE__EXECUTOR" = CeleryExecutor ]; then  # the broker's password masked, as Celery shows it
  components="$components, Celery worker (broker $(printf %s "$AIRFLOW__CELERY__BROKER_URL" \
    | python -m baselib.orchestration.local_airflow show-url))"
fi
echo "== Starting $components"
if ! python -m baselib.orchestration.local_airflow start; then
  bash scripts/down.sh >/dev/null 2>&1 || true
  exit 1
fi
paused_at_creation="$(printf %s "$AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION" | tr '[:upper:]' '[:lower:]')"
if [ "$paused_at_creation" = false ] || [ "$paused_at_creation" = 0 ]; then
  python -m baselib.orchestration.local_airflow unpause-all
  echo "DAGs are unpaused when deployed (AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False; set it to True to keep new DAGs paused)."
else
  echo "New DAGs stay paused (AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True): unpause them in the UI."
fi

cat <<MSG

Airflow UI: $AIRFLOW__API__BASE_URL
Login: none. Every caller is an admin (Airflow's SimpleAuthManager with simple_auth_manager_all_admins).
The UI listens on 127.0.0.1 only, so other machines cannot reach it — but every user and program on
THIS machine can, as admin. On a shared host, use the docker compose deployment (README, "Docker
Compose"), which has a real login, instead.
Executor: $AIRFLOW__CORE__EXECUTOR. Component logs: $AIRFLOW_HOME/*.log; task logs: $AIRFLOW_HOME/logs
Airflow CLI and backfills on this deployment, from another shell: source $AIRFLOW_HOME/up.env
  e.g. python -m baselib.cli backfill --dag-id base_population__person --from 2026-10-01 --to 2026-10-07 --dry-run
Status: python -m baselib.orchestration.local_airflow status (with AIRFLOW_HOME=$AIRFLOW_HOME)
Stop everything: make down
MSG
