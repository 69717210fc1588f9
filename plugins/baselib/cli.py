"""Command line for the demo, the tests and operators: ``python -m baselib.cli --help``."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
from pathlib import Path

from baselib.settings import PROJECT_ROOT, landing_url

WAREHOUSE_DB = "baselib_warehouse"
SOURCE_DB = "frontend_public_security"


def _server_uri() -> str:
    """The PostgreSQL server to use: WAREHOUSE_URL's server if set, else the embedded one."""
    if os.environ.get("WAREHOUSE_URL"):
        return os.environ["WAREHOUSE_URL"]
    from baselib.warehouse import embedded

    return embedded.start()


def _catalog():
    """The entries that load; each broken one is reported on stderr and skipped (it stops only its
    own resource: its DAG is a ``catalog_error__`` placeholder)."""
    from baselib.catalog import scan_catalog

    catalog = scan_catalog()
    for error in catalog.errors:
        print(f"broken catalog entry, skipped: {error.message}", file=sys.stderr)
    return catalog.resources


def _source_database(conn_id: str) -> str:
    return "frontend_" + conn_id.removeprefix("dept_")


def cmd_env(args) -> None:
    """Print ``export`` lines for the demo: warehouse, one connection per catalog source, Airflow home.

    The simulated APIs' connections (e-licence, court) come later, from ``start-apis`` (their
    ports are chosen when the servers start), unless they are already set."""
    from baselib.warehouse import provision

    if os.environ.get("WAREHOUSE_URL"):
        warehouse = os.environ["WAREHOUSE_URL"]
        server = warehouse
    else:
        server = _server_uri()
        warehouse = provision.ensure_database(server, WAREHOUSE_DB)
    airflow_home = str(_airflow_home())
    exports = {"WAREHOUSE_URL": warehouse, "AIRFLOW_CONN_WAREHOUSE": warehouse}
    for resource in _catalog():
        source = resource.pipeline.source
        if source.kind not in ("postgres", "http_api"):
            continue  # landing folders live under BASELIB_LANDING_URL (below); SQL models read the warehouse
        variable = f"AIRFLOW_CONN_{source.conn_id.upper()}"
        if os.environ.get(variable):
            exports[variable] = os.environ[variable]
        elif source.kind == "postgres":
            exports[variable] = provision.ensure_database(server, _source_database(source.conn_id))
    exports.update({
        "BASELIB_LANDING_URL": landing_url(),
        "AIRFLOW_HOME": airflow_home,
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",  # task logs carry progress and the quality report's path
        "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
    })
    for key, value in exports.items():
        print(f"export {key}={shlex.quote(value)}")


def cmd_simulate(args) -> None:
    """(Re)create every simulated department source the catalog reads from."""
    from baselib.warehouse import connections

    as_of = dt.datetime.fromisoformat(args.as_of).replace(tzinfo=dt.timezone.utc)
    catalog = _catalog()
    conn_ids = {r.pipeline.source.conn_id for r in catalog if r.pipeline.source.kind in ("postgres", "http_api")}
    landings = {r.pipeline.source.landing for r in catalog if r.pipeline.source.kind == "file_drop"}
    from baselib_simulators import legal_entity, population

    # front-end database -> (label, simulator, its clean identifiers for the certificate holders)
    databases = {"dept_public_security": ("population", population, population.clean_ids),
                 "dept_market_regulation": ("legal-entity", legal_entity, legal_entity.clean_credit_codes)}
    holders: dict[str, list[str]] = {conn_id: [] for conn_id in databases}
    for conn_id, (label, simulator, clean_codes) in databases.items():
        if conn_id not in conn_ids:
            continue
        conn = connections.connect(conn_id)
        try:
            result = simulator.create(conn, rows=args.rows, seed=args.seed, as_of=as_of)
            holders[conn_id] = clean_codes(conn, limit=args.certificates)
        finally:
            conn.close()
        print(f"{label} source: {result.rows} rows in {simulator.SOURCE_TABLE}; injected: {_counts(result.defects)}")
    if landings:
        _simulate_file_drops(landings, args.seed)
    if "e_licence_api" in conn_ids:
        from baselib_simulators import certificates_service

        manifest = certificates_service.simulate(args.certificates, args.seed, as_of,
                                                 holders["dept_public_security"], holders["dept_market_regulation"])
        print(f"e-licence API: {manifest}")
    _simulate_departments(catalog, args.seed, as_of)


def _simulate_departments(catalog, seed: int, as_of: dt.datetime) -> None:
    """The department business data (catalog class 3) the catalog reads, made from the base
    sources' defect-free people and registrants (simulate those first)."""
    from baselib_simulators import departments
    from baselib_simulators.certificates_service import COURT
    from baselib.warehouse import connections

    targets = {r.pipeline.target.qualified for r in catalog}
    needed = targets & {"dept_market_regulation.administrative_penalty", "dept_court.dishonest_debtor",
                        "dept_tax.tax_credit_rating", "dept_human_resources.insurance_enrolment",
                        "dept_human_resources.pension_payment"}
    if not needed:
        return

    def read(conn_id: str, reader):
        conn = connections.connect(conn_id)
        try:
            return reader(conn)
        finally:
            conn.close()

    registrants = read("dept_market_regulation", departments.registrants)
    people = read("dept_public_security", departments.people)
    if "dept_market_regulation.administrative_penalty" in needed:
        from baselib_simulators import penalties

        conn = connections.connect("dept_market_regulation")
        try:
            result = penalties.create(conn, registrants, seed=seed, as_of=as_of)
        finally:
            conn.close()
        print(f"penalties: {result.rows} rows in {penalties.SOURCE_TABLE}; unknown parties: {result.unmatched}; "
              f"injected: {_counts(result.defects)}")
    if "dept_court.dishonest_debtor" in needed:
        from baselib_simulators import dishonest_debtors

        manifest = dishonest_debtors.simulate(registrants, people, seed, as_of, COURT.records_file)
        print(f"court API: {len(manifest.records)} dishonest debtors in "
              f"{COURT.records_file.relative_to(PROJECT_ROOT)}; unknown parties: {len(manifest.unmatched)}; "
              f"injected: {_counts(manifest.defect_counts)}")
    if "dept_tax.tax_credit_rating" in needed:
        from baselib_simulators import tax_ratings

        drop = tax_ratings.write_drop(_local_landing_root(), registrants, seed=seed, as_of=as_of)
        print(f"tax drop: {len(drop.rows)} ratings in {len(drop.files)} workbooks in {drop.directory}; "
              f"unknown taxpayers: {len(drop.unmatched)}; injected: {_counts(drop.defect_counts)}")
    if needed & {"dept_human_resources.insurance_enrolment", "dept_human_resources.pension_payment"}:
        from baselib_simulators import social_insurance

        conn = connections.connect("dept_human_resources")
        try:
            result = social_insurance.create(conn, people, seed=seed, as_of=as_of)
        finally:
            conn.close()
        print(f"social insurance: {result.enrolments} enrolments, {result.payments} pension payments; "
              f"unknown insured: {result.unmatched_people}; injected: enrolments {_counts(result.enrolment_defects)}, "
              f"payments {_counts(result.payment_defects)}")
        print(f"pension after death: {result.pension_after_death} payments to {result.people_paid_after_death} "
              f"deceased pensioners")


def _simulate_file_drops(landings: set[str], seed: int) -> None:
    """Write the natural-resources and statistics drops into the local landing folders."""
    root = _local_landing_root()
    if any(path.startswith("natural_resources/") for path in landings):
        from baselib_simulators import spatial

        drop = spatial.write_drop(root, seed=seed)
        print(f"natural-resources drop: {drop.admin_dir} and {drop.place_dir}; "
              f"injected: {_counts({k: len(v) for k, v in {**drop.division_defects, **drop.place_defects}.items()})}; "
              f"unreadable files: {len(drop.rejected_files)}")
    if any(path.startswith("statistics/") for path in landings):
        from baselib_simulators import macro_economy

        drop = macro_economy.write_drop(root, seed=seed)
        print(f"statistics drop: {drop.value_dir}; injected: {_counts({k: len(v) for k, v in drop.defects.items()})}; "
              f"unreadable files: {len(drop.rejected_files)}")


def _local_landing_root() -> Path:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(landing_url())
    if parts.scheme != "file":
        raise SystemExit(f"simulate writes file drops to a local folder; BASELIB_LANDING_URL is {landing_url()}")
    return Path(unquote(parts.path))


def _counts(counts: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))


def _airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or PROJECT_ROOT / ".airflow")


def cmd_serve_certificates(args) -> None:
    from baselib_simulators import certificates_service

    by_conn = {api.conn_id: api for api in certificates_service.APIS}
    apis = []
    for spec in args.api or []:
        conn_id, _, path = spec.partition("=")
        if conn_id not in by_conn or not path:
            sys.exit(f"--api {spec!r}: expected <conn id>=<records file> with a conn id of {sorted(by_conn)}")
        apis.append((by_conn[conn_id], Path(path)))
    try:
        certificates_service.serve(_airflow_home(), args.ready_file,
                                  args.records or certificates_service.RECORDS_FILE, apis=apis or None)
    except certificates_service.ServerStartError as exc:
        sys.exit(str(exc))


def cmd_start_apis(args) -> None:
    """Start the simulated APIs the catalog reads (the e-licence API, the court API) in one
    background process; print ``export`` lines for each connection and the process's pid
    (``DEMO_API_PID``), or fail with the server's own error. An API whose default records file
    does not exist yet (``simulate`` writes it) is left out, with a note on stderr."""
    from baselib_simulators import certificates_service

    read = {r.pipeline.source.conn_id for r in _catalog() if r.pipeline.source.kind == "http_api"}
    given = {certificates_service.CONN_ID: args.records, certificates_service.COURT.conn_id: args.court_records}
    apis = []
    for api in certificates_service.APIS:
        if api.conn_id not in read:
            continue
        path = given[api.conn_id] or api.records_file
        if given[api.conn_id] is None and not path.is_file() and api is not certificates_service.E_LICENCE:
            print(f"the {api.label} is not started: no records at {path} (run simulate first)", file=sys.stderr)
            continue
        apis.append((api, path))
    if not apis:
        return
    home = _airflow_home()
    try:
        started = certificates_service.start(home, home / "e-licence-api.log", apis=apis)
    except certificates_service.ServerStartError as exc:
        sys.exit(f"cannot start the demo's APIs: {exc}")
    for api, _ in apis:
        print(f"export {api.conn_variable}={shlex.quote(started.uris[api.conn_id])}")
    print(f"export DEMO_API_PID={started.pid}")


def cmd_simulate_history(args) -> None:
    """A range of simulated platform history (runs, sync metrics, dimension scores, measured use, past
    applications) for the indicators and the yearly report: baselib_simulators.history."""
    from baselib_simulators import history
    from baselib.warehouse import connections

    try:
        start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
        zombies = {code: dt.date.fromisoformat(day) for code, _, day in (z.rpartition("=") for z in args.zombie or [])}
    except ValueError as exc:
        sys.exit(f"error: dates are written like 2025-01-01 (--zombie <resource code>=<date>): {exc}")
    conn = connections.connect("warehouse")
    try:
        result = history.simulate(conn, start, end, seed=args.seed, catalog=_catalog(), zombies=zombies,
                                  unused=set(args.unused or []))
        conn.commit()
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    finally:
        conn.close()
    print(f"simulated history {start} .. {end} (exclusive): {_counts(result) if isinstance(result, dict) else result}")


def cmd_start_evaluation(args) -> None:
    """Start the simulated evaluation system in the background; print export lines for its
    connection (``AIRFLOW_CONN_EVALUATION_API``, the token as the password) and its pid."""
    from baselib_simulators import evaluation_service

    try:
        started = evaluation_service.start(_airflow_home())
    except evaluation_service.ServerStartError as exc:
        sys.exit(f"cannot start the evaluation system: {exc}")
    print(f"export AIRFLOW_CONN_{evaluation_service.CONN_ID.upper()}={shlex.quote(started.uri)}")
    print(f"export DEMO_EVALUATION_PID={started.pid}")


def cmd_summary(args) -> None:
    from baselib.records import summary
    from baselib.warehouse import connections

    with connections.transaction() as conn:
        print(summary.render(conn, _catalog(), connections.connection_uri("warehouse")))


def cmd_housekeeping(args) -> None:
    """What the ``staging_housekeeping`` DAG does, from the shell: print the summary as JSON."""
    import json

    from baselib.records import housekeeping

    try:
        summary = housekeeping.sweep_warehouse(dry_run=args.dry_run, retention_days=args.retention_days)
    except housekeeping.SweepIncomplete as exc:  # the others were removed; name what is left
        print(json.dumps(exc.sweep.as_dict(), ensure_ascii=False, indent=2))
        raise SystemExit(f"error: {exc}") from None
    except (LookupError, ValueError) as exc:  # no warehouse connection, or a bad retention: one line
        raise SystemExit(f"error: {exc}") from None
    print(json.dumps(summary, ensure_ascii=False, indent=2))


def cmd_stop_embedded(args) -> None:
    from baselib.warehouse import embedded

    print("embedded PostgreSQL stopped" if embedded.stop() else "no embedded PostgreSQL running")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="baselib", description=__doc__)
    sub = parser.add_subparsers(required=True)
    sub.add_parser("env", help="print export lines for the demo environment").set_defaults(func=cmd_env)
    sim = sub.add_parser("simulate", help="(re)create every simulated department source")
    sim.add_argument("--rows", type=int, default=20_000)
    sim.add_argument("--certificates", type=int, default=5_000, help="certificates served by the e-licence API")
    sim.add_argument("--seed", type=int, default=20261101)
    sim.add_argument("--as-of", default="2026-11-01T00:00:00", help="newest updated_at (UTC)")
    sim.set_defaults(func=cmd_simulate)
    sub.add_parser("summary", help="print the latest run of each resource").set_defaults(func=cmd_summary)
    serve = sub.add_parser("serve-certificates",
                           help="serve the simulated e-licence API (or the --api ones) until stopped")
    serve.add_argument("--ready-file", type=Path, help="write the connection URI here once listening")
    serve.add_argument("--records", type=Path, help="the simulated records (JSON; default: the ones simulate wrote)")
    serve.add_argument("--api", action="append", metavar="CONN_ID=RECORDS",
                       help="serve this API (e_licence_api, court_api) with these records; repeatable "
                            "(default: the e-licence API with --records)")
    serve.set_defaults(func=cmd_serve_certificates)
    for name in ("start-apis", "start-certificates"):
        start = sub.add_parser(name, help="start the simulated APIs the catalog reads (e-licence, court) in the "
                                          "background; print export lines for their connections and the pid"
                                          + (" (alias of start-apis)" if name == "start-certificates" else ""))
        start.add_argument("--records", type=Path,
                           help="the e-licence API's records (JSON; default: the ones simulate wrote)")
        start.add_argument("--court-records", type=Path,
                           help="the court API's records (JSON; default: the ones simulate wrote)")
        start.set_defaults(func=cmd_start_apis)
    sub.add_parser("stop-embedded", help="stop the embedded PostgreSQL").set_defaults(func=cmd_stop_embedded)
    keep = sub.add_parser("housekeeping", help="remove the staging files of failed, blocked or abandoned runs and orphan "
                                               "folders older than the retention (what the staging_housekeeping DAG "
                                               "does)")
    keep.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    keep.add_argument("--retention-days", type=float, help="default BASELIB_STAGING_RETENTION_DAYS, else 7")
    keep.set_defaults(func=cmd_housekeeping)
    hist = sub.add_parser("simulate-history", help="write simulated platform history (runs, metrics, scores, use, "
                                                   "applications) for [start, end): indicators and yearly report")
    hist.add_argument("--start", required=True, help="first local date, e.g. 2025-01-01")
    hist.add_argument("--end", required=True, help="local date after the last, e.g. 2026-11-01")
    hist.add_argument("--seed", type=int, default=20261101)
    hist.add_argument("--zombie", action="append", metavar="CODE=DATE",
                      help="DATE is the last data day this resource delivers; none after (repeatable)")
    hist.add_argument("--unused", action="append", metavar="CODE", help="nobody uses this resource (repeatable)")
    hist.set_defaults(func=cmd_simulate_history)
    sub.add_parser("start-evaluation", help="start the simulated evaluation system on loopback in the background; "
                                            "print export lines for its connection and pid"
                   ).set_defaults(func=cmd_start_evaluation)
    from baselib.sharing import cli as sharing_cli  # light: argparse only until a command runs

    sharing_cli.register(sub)
    from baselib.sharing import objection_cli  # 数据异议: raise, confirm, reject, list

    objection_cli.register(sub)
    from baselib.quality import cli as quality_cli  # scores, trend pages, returns to providers

    quality_cli.register(sub)
    from baselib.evaluation import cli as evaluation_cli  # indicators, publishing, yearly report

    evaluation_cli.register(sub)
    from baselib.orchestration import backfill  # airflow backfill create with dates read in Asia/Shanghai

    backfill.register(sub)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
