"""The benchmark's workloads. Each runs in its own process so that its peak RSS is its own.

Run as ``python bench/workloads.py NAME --params JSON --result PATH``; bench_population.py
does this with the connection environment already set (AIRFLOW_CONN_WAREHOUSE,
AIRFLOW_CONN_DEPT_PUBLIC_SECURITY, AIRFLOW_CONN_DEPT_MARKET_REGULATION, for the certificate
pipeline AIRFLOW_CONN_E_LICENCE_API, BASELIB_STAGING_URL, BASELIB_REPORTS_DIR). The result is a
JSON object written to PATH; it always carries ``peak_rss_bytes``, the process's high-water
resident set size (ru_maxrss), measured over the whole process, imports included.

Workloads that concern one resource take ``resource`` in their parameters: a key of
:data:`RESOURCES` (default ``population``). ``serve_certificates`` is not measured: it runs the
simulated e-licence API in its own process until SIGTERM, so that the certificate pipeline's
peak RSS does not include the server and its 200k records. ``source_delta``,
``source_restore`` and ``count_changed`` are untimed helpers of the population reruns (the 1 %
delta changed at the source, put back, and counted in the current view). The peer (dlt) is not
here: it runs in its own virtual environment (peer_dlt.py).

Only the work between the two ``time.perf_counter()`` calls of each workload is timed; setup
(creating tables, opening connections, a CHECKPOINT so that earlier writes are not flushed on
this workload's clock) is not.
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from resource import RUSAGE_CHILDREN, RUSAGE_SELF, getrusage

import psycopg2
from psycopg2 import sql

from baselib.catalog import load_catalog
from baselib.catalog.model import Resource
from baselib_simulators import population
from baselib.warehouse import connections, schema

SOURCE_CONN_ID = "dept_public_security"
# resource name -> the catalog entry's target; the population entry is the original benchmark's.
RESOURCES = {
    "population": "base_population.person",
    "legal_entity": "base_legal_entity.legal_entity",
    "certificate": "base_e_certificate.certificate",
}
BENCH_SCHEMA = "bench"
RAW_COPY_TABLE = "raw_copy"
SIMULATOR_SEED = 20261101
SIMULATED_AS_OF = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
# The run loads the simulated day 2026-11-01 in Asia/Shanghai; the interval ends after the newest row.
INTERVAL_END = dt.datetime(2026, 11, 1, 16, tzinfo=dt.timezone.utc)


@functools.lru_cache(maxsize=None)
def resource_entry(name: str = "population") -> Resource:
    """The catalog entry of a benchmarked resource (a key of RESOURCES)."""
    target = RESOURCES[name]
    return next(r for r in load_catalog() if r.pipeline.target.qualified == target)


def item_columns(name: str = "population") -> list[str]:
    return [item.name for item in resource_entry(name).items]


def _simulator(name: str):
    """(simulator module, source connection id) of a resource read from a source database."""
    if name == "population":
        return population, SOURCE_CONN_ID
    if name == "legal_entity":
        from baselib_simulators import legal_entity

        return legal_entity, "dept_market_regulation"
    raise ValueError(f"resource {name!r} has no source database")


def peak_rss_bytes() -> int:
    """High-water RSS of this process (or of a child it waited for, if larger). Linux: KiB."""
    return max(getrusage(RUSAGE_SELF).ru_maxrss, getrusage(RUSAGE_CHILDREN).ru_maxrss) * 1024


def checkpoint(conn) -> None:
    """Flush dirty buffers now, so the next timed workload does not pay for earlier writes."""
    try:
        with conn.cursor() as cur:
            cur.execute("CHECKPOINT")
        conn.commit()
    except psycopg2.errors.InsufficientPrivilege:
        conn.rollback()


def create_plain_table(conn, name: str, resource: str = "population") -> sql.Identifier:
    """An empty table with the resource's item columns and warehouse types: no keys, no indexes."""
    table = sql.Identifier(BENCH_SCHEMA, name)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(item.name), sql.SQL(schema.column_type(item)))
        for item in resource_entry(resource).items
    )
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(BENCH_SCHEMA)))
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
    conn.commit()
    return table


def copy_statement(direction: str, relation: sql.Composable, columns: list[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) {}").format(
        relation, sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.SQL(direction)
    )


def prepare_source(params: dict) -> dict:
    """Simulate the department's table, then export its rows for the raw-COPY floor."""
    name = params.get("resource", "population")
    simulator, conn_id = _simulator(name)
    conn = connections.connect(conn_id)
    try:
        started = time.perf_counter()
        simulated = simulator.create(conn, rows=params["rows"], seed=SIMULATOR_SEED, as_of=SIMULATED_AS_OF)
        simulate_seconds = time.perf_counter() - started
        export = copy_statement("TO STDOUT", sql.SQL(simulator.SOURCE_TABLE), item_columns(name))
        with conn.cursor() as cur, open(params["copy_file"], "wb") as sink:
            cur.copy_expert(export.as_string(cur), sink)
    finally:
        conn.close()
    return {"source_rows": simulated.rows, "defects": simulated.defects, "simulate_seconds": simulate_seconds,
            "copy_file_bytes": Path(params["copy_file"]).stat().st_size}


def copy_text(value) -> str:
    """One value in COPY's text format (JSON scalars: str, bool, number, None)."""
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def prepare_certificates(params: dict) -> dict:
    """Generate the e-licence records once: a JSON file for the API server, and the same records
    in COPY's text format (the catalog's item columns, in catalog order) for the raw-COPY floor."""
    from baselib_simulators import certificates

    started = time.perf_counter()
    records, manifest = certificates.generate(params["rows"], SIMULATOR_SEED, SIMULATED_AS_OF,
                                              params.get("citizen_ids", []), params.get("credit_codes", []))
    simulate_seconds = time.perf_counter() - started
    Path(params["records_file"]).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    columns = item_columns("certificate")
    with open(params["copy_file"], "w", encoding="utf-8", newline="\n") as sink:
        for record in records:
            sink.write("\t".join(copy_text(record.get(c)) for c in columns))
            sink.write("\n")
    return {"source_rows": len(records), "defects": manifest.defect_counts, "simulate_seconds": simulate_seconds,
            "copy_file_bytes": Path(params["copy_file"]).stat().st_size}


def serve_certificates(params: dict) -> dict:
    """Serve the records over loopback HTTP until SIGTERM; the connection URI goes to uri_file."""
    from baselib_simulators import certificates

    records = json.loads(Path(params["records_file"]).read_text(encoding="utf-8"))
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    server = certificates.CertificateApiServer(records, token=secrets.token_urlsafe(24)).start()
    del records
    try:
        uri_file = Path(params["uri_file"])
        uri_file.with_suffix(".tmp").write_text(server.connection_uri(), encoding="utf-8")
        uri_file.with_suffix(".tmp").replace(uri_file)
        stopped.wait()
    finally:
        server.stop()
    return {"rows": len(server.records), "seconds": 0.0, "requests": len(server.requests),
            "statuses": sorted({r.status for r in server.requests})}


def raw_copy(params: dict) -> dict:
    """The floor: COPY the exported rows into an empty, index-free table, commit included."""
    name = params.get("resource", "population")
    conn = connections.connect()
    try:
        table = create_plain_table(conn, RAW_COPY_TABLE, name)
        checkpoint(conn)
        with conn.cursor() as cur, open(params["copy_file"], "rb") as rows_file:
            statement = copy_statement("FROM STDIN", table, item_columns(name)).as_string(cur)
            started = time.perf_counter()
            cur.copy_expert(statement, rows_file, size=1 << 20)
            conn.commit()
            seconds = time.perf_counter() - started
            rows = cur.rowcount
    finally:
        conn.close()
    return {"rows": rows, "seconds": seconds}


def _when(params: dict, name: str, default: dt.datetime) -> dt.datetime:
    value = params.get(name)
    return dt.datetime.fromisoformat(value) if value else default


def pipeline_run(params: dict) -> dict:
    """The real pipeline, in-process: extract → validate → load (SCD2 merge) → record.

    ``mode`` (default ``full``) and the data interval (``interval_start``/``interval_end``, ISO
    date-times; default the simulated day 2026-11-01 in Asia/Shanghai) are the run's. Only
    ``pipeline.run`` is timed; the counts and step seconds are read back from ``ops.load_run``."""
    from baselib import pipeline
    from baselib.records import load_run

    entry = resource_entry(params.get("resource", "population"))
    end = _when(params, "interval_end", INTERVAL_END)
    start = _when(params, "interval_start", end - dt.timedelta(days=1))
    conn = connections.connect()
    try:
        checkpoint(conn)
    finally:
        conn.close()
    run_info = pipeline.RunInfo(
        dag_id=entry.dag_id, run_id=params["run_id"], logical_date=end,
        data_interval_start=start, data_interval_end=end, mode=params.get("mode", "full"),
    )
    started = time.perf_counter()
    summary = pipeline.run(entry, run_info)
    seconds = time.perf_counter() - started
    with connections.transaction() as conn:
        record = load_run.get(conn, summary["load_id"])
    steps = {step: record[f"{step}_seconds"] or 0.0 for step in ("extract", "validate", "load")}
    counts = {k: v for k, v in record.items() if k.startswith("rows_")}
    return {"rows": record["rows_extracted"], "seconds": seconds, "status": record["status"],
            "mode": record["mode"], "steps": steps, "counts": counts,
            "cross_checks": record.get("cross_checks") or {}}


# --- the 1 % delta: changed at the source, then put back -------------------------------------
DELTA_MARKER = "（变更）"    # appended to the address of each changed row
DELTA_TABLE = "simulator.bench_delta"  # the changed rows' original values, for source_restore
DELTA_STRIDE = 89            # candidates: every 89th row (1.12 %), so 1 % of the rows are enough once
                             # the ~2 % with injected defects or a shared ID number are left out


def source_delta(params: dict) -> dict:
    """Change ``rows`` population rows at the source as a day at the department would: the address
    gets DELTA_MARKER appended and ``updated_at`` becomes ``at``. Untimed.

    The rows are every DELTA_STRIDE-th ``row_id`` (the first ``rows`` of them) among those that
    load cleanly: no injected defect (simulator.injected_defect) and an ID number that occurs once
    at the source (two random people can draw the same ID; the pipeline quarantines both). Their
    original values go to DELTA_TABLE. Raises if fewer than ``rows`` rows qualify."""
    conn = connections.connect(SOURCE_CONN_ID)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.SQL(DELTA_TABLE)))
            cur.execute(sql.SQL(
                "CREATE TABLE {delta} AS "
                "WITH twice AS (SELECT id_number FROM {source} GROUP BY id_number HAVING count(*) > 1) "
                "SELECT p.row_id, p.id_number, p.address, p.updated_at FROM {source} AS p "
                "WHERE p.row_id %% %(stride)s = 0 AND p.id_number IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM simulator.injected_defect AS d WHERE d.id_number = p.id_number) "
                "AND NOT EXISTS (SELECT 1 FROM twice WHERE twice.id_number = p.id_number) "
                "ORDER BY p.row_id LIMIT %(rows)s"
            ).format(delta=sql.SQL(DELTA_TABLE), source=sql.SQL(population.SOURCE_TABLE)),
                {"stride": DELTA_STRIDE, "rows": params["rows"]})
            picked = cur.rowcount
            if picked != params["rows"]:
                raise SystemExit(f"only {picked} rows qualify for the delta, {params['rows']} wanted")
            cur.execute(sql.SQL(
                "UPDATE {source} AS p SET address = p.address || %(marker)s, updated_at = %(at)s "
                "FROM {delta} AS d WHERE p.row_id = d.row_id"
            ).format(delta=sql.SQL(DELTA_TABLE), source=sql.SQL(population.SOURCE_TABLE)),
                {"marker": DELTA_MARKER, "at": dt.datetime.fromisoformat(params["at"])})
            changed = cur.rowcount
        conn.commit()
    finally:
        conn.close()
    return {"rows": changed, "seconds": 0.0}


def source_restore(params: dict) -> dict:
    """Put the rows source_delta changed back as they were (the next repeat's first load reads
    the same source), and drop DELTA_TABLE."""
    conn = connections.connect(SOURCE_CONN_ID)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL(
                "UPDATE {source} AS p SET address = d.address, updated_at = d.updated_at "
                "FROM {delta} AS d WHERE p.row_id = d.row_id"
            ).format(delta=sql.SQL(DELTA_TABLE), source=sql.SQL(population.SOURCE_TABLE)))
            restored = cur.rowcount
            cur.execute(sql.SQL("DROP TABLE {}").format(sql.SQL(DELTA_TABLE)))
        conn.commit()
    finally:
        conn.close()
    return {"rows": restored, "seconds": 0.0}


def count_changed(params: dict) -> dict:
    """Rows of the population's current view (``<target>_current``: what downstream systems read)
    whose address carries DELTA_MARKER: after the delta run, exactly the changed rows."""
    view = sql.Identifier(*f"{RESOURCES['population']}_current".split("."))
    conn = connections.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE address LIKE %s").format(view),
                        ("%" + DELTA_MARKER,))
            rows = cur.fetchone()[0]
    finally:
        conn.close()
    return {"rows": rows, "seconds": 0.0}


# --- the certificate API's floor --------------------------------------------------------------
def page_api(params: dict) -> dict:
    """Page through the simulated e-licence API as the pipeline's full run does, with no processing:
    the catalog's endpoint and page size, ``updated_until`` the interval end, the bearer token, one
    httpx client; each page's body decoded with ``json.loads`` (needed to read ``next_cursor``),
    its items counted and dropped. Timed from the first request to the last page."""
    import httpx

    from baselib.sources.http_api import parse_connection

    entry = resource_entry("certificate")
    source = entry.pipeline.source
    conn = parse_connection(params["api_uri"])
    headers = {"Accept": "application/json", "Authorization": f"Bearer {conn.token}"}
    query = {"page_size": source.page_size, "updated_until": INTERVAL_END.isoformat()}
    rows = pages = 0
    with httpx.Client(base_url=conn.base_url, headers=headers, timeout=source.timeout_seconds) as client:
        started = time.perf_counter()
        cursor = None
        while True:
            response = client.get(source.endpoint, params=query if cursor is None else {**query, "cursor": cursor})
            response.raise_for_status()
            body = json.loads(response.content)
            rows += len(body["items"])
            pages += 1
            cursor = body.get("next_cursor")
            if cursor is None:
                break
        seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "pages": pages, "page_size": source.page_size}


WORKLOADS = {
    "prepare_source": prepare_source,
    "prepare_certificates": prepare_certificates,
    "serve_certificates": serve_certificates,
    "raw_copy": raw_copy,
    "pipeline": pipeline_run,
    "source_delta": source_delta,
    "source_restore": source_restore,
    "count_changed": count_changed,
    "page_api": page_api,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--params", default="{}", help="JSON object of the workload's parameters")
    parser.add_argument("--result", required=True, type=Path, help="where to write the JSON result")
    args = parser.parse_args(argv)
    result = WORKLOADS[args.workload](json.loads(args.params))
    result["peak_rss_bytes"] = peak_rss_bytes()
    args.result.write_text(json.dumps(result, default=str), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
