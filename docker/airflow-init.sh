#!/usr/bin/env bash
# The compose file's airflow-init service: runs once before the other Airflow services start, and
# is safe to rerun (`docker compose run --rm airflow-init` after changing .env):
#   0. refuses while a variable still holds .env.example's placeholder change-me
#   1. airflow db migrate                      (creates or upgrades the metadata database)
#   2. SimpleAuthManager's passwords file      (AIRFLOW_ADMIN_USER gets AIRFLOW_ADMIN_PASSWORD)
#   3. the warehouse answers; postgis and pg_stat_statements extensions created when available
#   4. the Airflow connections from the environment, imported with --overwrite (the .env wins):
#      warehouse, the catalog's sources (BASELIB_CONN_<ID>), evaluation_api, baselib_alerts,
#      smtp_default (see docker/baselib_init.py)
# Secrets only pass through a private temporary file, deleted on exit; nothing secret is printed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python_bin="${PYTHON:-python}"
passwords_file="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?set AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE}"

"$python_bin" "$here/baselib_init.py" placeholders
echo "airflow-init: Airflow $(airflow version 2>/dev/null | tail -n 1)"
airflow db migrate
"$python_bin" "$here/baselib_init.py" passwords "$passwords_file"
"$python_bin" "$here/baselib_init.py" warehouse --attempts "${WAREHOUSE_CHECK_ATTEMPTS:-30}"

umask 077
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
"$python_bin" "$here/baselib_init.py" connections "$workdir/connections.json"
airflow connections import --overwrite "$workdir/connections.json"
echo "airflow-init: done"
