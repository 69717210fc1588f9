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
peak RSS does not include the server and its 200k records.

Only the work between the two ``time.perf_counter()`` calls of each workload is timed; setup
(creating tables, reading the sample, a CHECKPOINT so that earlier writes are not flushed on
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
TO_SQL_TABLE = "to_sql_sample"
SIMULATOR_SEED = 20261101
SIMULATED_AS_OF = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
# The run loads the simulated day 2026-11-01 in Asia/Shanghai; the interval ends after the newest row.
INTERVAL_END = dt.datetime(2026, 11, 1, 16, tzinfo=dt.timezone.utc)


@functools.lru_cache(maxsize=None)
def resource_entry(name: str = "population") -> Resource:
    """The catalog entry of a benchmarked resource (a key of RESOURCES)."""
    target = RESOURCES[name]
    return next(r for r in load_catalog() if r.pipeline.target.qualified == target)


def population_resource() -> Resource:
    """The catalog entry that reads the population simulator's table."""
    return resource_entry("population")


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


def design_floor(params: dict) -> dict:
    """What the load design costs with no extraction and no validation at all: COPY into a
    staging table, then insert every distinct key into the indexed base table and the indexed
    history table (key order, one transaction). Rows the warehouse's NOT NULL columns would
    refuse are skipped. The pipeline can never beat this; raw COPY writes the rows once,
    unindexed, and this writes them three times, twice into indexed tables."""
    entry = population_resource()
    columns = item_columns()
    conn = connections.connect()
    try:
        schema.ensure(conn, [entry])
        checkpoint(conn)
        names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        fill = sql.SQL(
            "INSERT INTO {target} ({names}, _row_hash, {extra}) "
            "SELECT DISTINCT ON (id_number) {names}, md5(ROW({names})::text), {values} FROM staging_rows "
            "WHERE name IS NOT NULL ORDER BY id_number"
        )
        with conn.cursor() as cur, open(params["copy_file"], "rb") as rows_file:
            started = time.perf_counter()
            cur.execute(sql.SQL("CREATE TEMP TABLE staging_rows AS SELECT {} FROM base_population.person WITH NO DATA")
                        .format(names))
            cur.copy_expert(copy_statement("FROM STDIN", sql.Identifier("staging_rows"), columns).as_string(cur),
                            rows_file, size=1 << 20)
            cur.execute(fill.format(target=sql.SQL("base_population.person"), names=names,
                                    extra=sql.SQL("_load_id, _first_loaded_at, _loaded_at"),
                                    values=sql.SQL("0, now(), now()")))
            rows = cur.rowcount
            cur.execute(fill.format(target=sql.SQL("base_population.person_history"), names=names,
                                    extra=sql.SQL("_valid_from, _load_id, _change"),
                                    values=sql.SQL("now(), 0, 'I'")))
            conn.commit()
            seconds = time.perf_counter() - started
    finally:
        conn.close()
    return {"rows": rows, "seconds": seconds}


def sqlalchemy_url(libpq_uri: str) -> str:
    """psycopg2 dialect URL for a libpq URI (a ``?host=/socket/dir`` query is passed through)."""
    return "postgresql+psycopg2://" + libpq_uri.partition("://")[2]


def to_sql(params: dict) -> dict:
    """The tutorial way: ``DataFrame.to_sql`` of a sample into an empty table with the same columns."""
    import pandas as pd
    from sqlalchemy import create_engine

    columns = item_columns()
    source = create_engine(sqlalchemy_url(connections.connection_uri(SOURCE_CONN_ID)))
    query = f"SELECT {', '.join(columns)} FROM {population.SOURCE_TABLE} ORDER BY row_id LIMIT {int(params['rows'])}"
    with source.connect() as conn:
        sample = pd.read_sql_query(query, conn)
    source.dispose()
    warehouse = create_engine(sqlalchemy_url(connections.connection_uri("warehouse")))
    conn = connections.connect()
    try:
        create_plain_table(conn, TO_SQL_TABLE)
        checkpoint(conn)
    finally:
        conn.close()
    started = time.perf_counter()
    sample.to_sql(TO_SQL_TABLE, warehouse, schema=BENCH_SCHEMA, if_exists="append", index=False,
                  method=params["method"], chunksize=params["chunksize"])
    seconds = time.perf_counter() - started
    warehouse.dispose()
    return {"rows": len(sample), "seconds": seconds, "method": params["method"] or "default",
            "chunksize": params["chunksize"]}


def pipeline_run(params: dict) -> dict:
    """The real pipeline, in-process: extract → validate (GX) → load (SCD2 merge) → record."""
    from baselib import pipeline
    from baselib.records import load_run

    entry = resource_entry(params.get("resource", "population"))
    conn = connections.connect()
    try:
        checkpoint(conn)
    finally:
        conn.close()
    run_info = pipeline.RunInfo(
        dag_id=entry.dag_id, run_id=params["run_id"], logical_date=INTERVAL_END,
        data_interval_start=INTERVAL_END - dt.timedelta(days=1), data_interval_end=INTERVAL_END, mode="full",
    )
    started = time.perf_counter()
    summary = pipeline.run(entry, run_info)
    seconds = time.perf_counter() - started
    with connections.transaction() as conn:
        record = load_run.get(conn, summary["load_id"])
    steps = {step: record[f"{step}_seconds"] for step in ("extract", "validate", "load")}
    counts = {k: v for k, v in record.items() if k.startswith("rows_")}
    return {"rows": record["rows_extracted"], "seconds": seconds, "status": record["status"],
            "steps": steps, "counts": counts, "cross_checks": record.get("cross_checks") or {}}


WORKLOADS = {
    "prepare_source": prepare_source,
    "prepare_certificates": prepare_certificates,
    "serve_certificates": serve_certificates,
    "raw_copy": raw_copy,
    "to_sql": to_sql,
    "design_floor": design_floor,
    "pipeline": pipeline_run,
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
