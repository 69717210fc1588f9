"""Command line for the demo, the tests and operators: ``python -m baselib.cli --help``."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys

from baselib.settings import PROJECT_ROOT

WAREHOUSE_DB = "baselib_warehouse"
SOURCE_DB = "frontend_public_security"


def _server_uri() -> str:
    """The PostgreSQL server to use: WAREHOUSE_URL's server if set, else the embedded one."""
    if os.environ.get("WAREHOUSE_URL"):
        return os.environ["WAREHOUSE_URL"]
    from baselib.warehouse import embedded

    return embedded.start()


def cmd_env(args) -> None:
    """Print ``export`` lines for the demo: warehouse, source connection, Airflow home."""
    from baselib.warehouse import provision

    if os.environ.get("WAREHOUSE_URL"):
        warehouse = os.environ["WAREHOUSE_URL"]
        server = warehouse
    else:
        server = _server_uri()
        warehouse = provision.ensure_database(server, WAREHOUSE_DB)
    source = os.environ.get("AIRFLOW_CONN_DEPT_PUBLIC_SECURITY") or provision.ensure_database(server, SOURCE_DB)
    airflow_home = os.environ.get("AIRFLOW_HOME") or str(PROJECT_ROOT / ".airflow")
    exports = {
        "WAREHOUSE_URL": warehouse,
        "AIRFLOW_CONN_WAREHOUSE": warehouse,
        "AIRFLOW_CONN_DEPT_PUBLIC_SECURITY": source,
        "AIRFLOW_HOME": airflow_home,
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
    }
    for key, value in exports.items():
        print(f"export {key}={shlex.quote(value)}")


def cmd_simulate(args) -> None:
    from baselib.simulators import population
    from baselib.warehouse import connections

    conn = connections.connect("dept_public_security")
    try:
        as_of = dt.datetime.fromisoformat(args.as_of).replace(tzinfo=dt.timezone.utc)
        result = population.create(conn, rows=args.rows, seed=args.seed, as_of=as_of)
    finally:
        conn.close()
    defects = ", ".join(f"{k}={v}" for k, v in sorted(result.defects.items()))
    print(f"population source: {result.rows} rows in {population.SOURCE_TABLE} (seed {args.seed}); injected: {defects}")


def cmd_summary(args) -> None:
    from baselib.catalog import load_catalog
    from baselib.records import summary
    from baselib.warehouse import connections

    with connections.transaction() as conn:
        print(summary.render(conn, load_catalog(), connections.connection_uri("warehouse")))


def cmd_stop_embedded(args) -> None:
    from baselib.warehouse import embedded

    print("embedded PostgreSQL stopped" if embedded.stop() else "no embedded PostgreSQL running")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="baselib", description=__doc__)
    sub = parser.add_subparsers(required=True)
    sub.add_parser("env", help="print export lines for the demo environment").set_defaults(func=cmd_env)
    sim = sub.add_parser("simulate", help="(re)create the simulated population source")
    sim.add_argument("--rows", type=int, default=20_000)
    sim.add_argument("--seed", type=int, default=20261101)
    sim.add_argument("--as-of", default="2026-11-01T00:00:00", help="newest updated_at (UTC)")
    sim.set_defaults(func=cmd_simulate)
    sub.add_parser("summary", help="print the latest run of each resource").set_defaults(func=cmd_summary)
    sub.add_parser("stop-embedded", help="stop the embedded PostgreSQL").set_defaults(func=cmd_stop_embedded)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
