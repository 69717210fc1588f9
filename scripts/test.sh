#!/usr/bin/env bash
# make test: the whole suite against TEST_DATABASE_URL (or WAREHOUSE_URL) if set, else the
# embedded PostgreSQL. Each test creates and drops its own databases on that server.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export PYTHONPATH="$PWD/plugins"
if [ -z "${TEST_DATABASE_URL:-}" ] && [ -n "${WAREHOUSE_URL:-}" ]; then
  export TEST_DATABASE_URL="$WAREHOUSE_URL"
fi
exec pytest "$@"
