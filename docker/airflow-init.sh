#!/usr/bin/env bash
# The compose file's airflow-init service: runs once before the other Airflow services start, and
# is safe to rerun (`docker compose run --rm airflow-init` after changing .env):
#   0. refuses while a variable still holds .env.example's placeholder change-me
#   1. airflow db migrate                      (creates or upgrades the metadata database, FAB's
#                                               user tables included: the provider's DB manager)
#   2. the UI login                            (AIRFLOW_ADMIN_USER with AIRFLOW_ADMIN_PASSWORD, role
#                                               Admin, in FabAuthManager's tables; created, or its
#                                               password updated when .env changed it)
#   3. the warehouse answers; postgis and pg_stat_statements extensions created when available
#   4. the Airflow connections from the environment, imported with --overwrite (the .env wins):
#      warehouse, the catalog's sources (BASELIB_CONN_<ID>), evaluation_api, baselib_alerts,
#      smtp_default (see docker/baselib_init.py); a managed connection whose variable is now
#      empty is deleted
# Secrets only pass through the environment and a private temporary file, deleted on exit; none is
# on a command line and nothing secret is printed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python_bin="${PYTHON:-python}"

"$python_bin" "$here/baselib_init.py" placeholders
echo "airflow-init: Airflow $(airflow version 2>/dev/null | tail -n 1)"
airflow db migrate
# (FAB logs every permission it syncs at INFO: only warnings here)
AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING "$python_bin" "$here/baselib_init.py" admin
"$python_bin" "$here/baselib_init.py" warehouse --attempts "${WAREHOUSE_CHECK_ATTEMPTS:-30}"

umask 077
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
"$python_bin" "$here/baselib_init.py" connections "$workdir/connections.json"
airflow connections import --overwrite "$workdir/connections.json"
"$python_bin" "$here/baselib_init.py" prune
echo "airflow-init: done"
