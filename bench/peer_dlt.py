"""The peer of ``make bench``: dlt loads the same source rows as the population pipeline.

Runs with the peer's own interpreter (``.bench-peer/bin/python``, dlt pinned in
bench/peer-requirements.txt), never the project's: it imports nothing from ``baselib``.

``python bench/peer_dlt.py --params JSON --result PATH``. Parameters:

* ``source_uri``: libpq URI of the source database (the population simulator's, same server);
* ``source_schema``, ``source_table``: the department's table (``frontend``, ``population_person``);
* ``columns``: the catalog's item columns, in catalog order (dlt reads only these);
* ``key``: the primary key column (``id_number``, the catalog's key);
* ``warehouse_uri``: libpq URI of the warehouse database (dlt's postgres destination);
* ``strategy``: ``merge`` (write_disposition merge, dlt's default delete-insert strategy on the
  primary key) or ``scd2`` (merge with strategy scd2: a version per distinct row, with
  ``_dlt_valid_from``/``_dlt_valid_to``; the row version is ``row_hash``, which dlt's
  ``add_row_hash_to_table`` computes for each arrow chunk, as dlt documents for arrow sources).
  Both set the primary key hint to ``key``, replacing the source table's reflected ``row_id``;
* ``pipelines_dir``: dlt's local state (a second run with the same directory and the same
  warehouse is a rerun, as dlt would run it the next day);
* ``work_mem``: when set (e.g. ``256MB``), passed to the destination as ``options=-cwork_mem=…`` in
  its URI; dlt's scd2 merge of a warehouse already holding the rows runs for minutes on the
  server's default 4 MB.

What is timed, wall clock in this process: ``dlt.pipeline(...)`` and ``pipeline.run(...)``, that
is dlt's extract (``sql_table`` with the pyarrow backend, chunks of 50,000 rows), normalise
(to CSV files) and load (``COPY`` into dlt's staging dataset, then the merge into the dataset
``peer_population``, one table ``population_person``), with dlt's defaults otherwise. Importing
dlt is not timed (our pipeline's module imports are not either; both runs do import lazily
loaded parts inside the timed run). No checks, no quarantine, no indexes but those dlt makes by default.
dlt's telemetry is switched off.

The result (JSON at PATH): ``seconds``; ``rows``, the source rows this run read and normalised
(dlt's own count, from the run's trace); counted untimed after the run: ``table_rows`` (rows in
the destination table: for merge, one per distinct key; for scd2, the versions), ``open_rows``
(scd2: versions with ``_dlt_valid_to`` NULL), ``source_keys`` (distinct non-NULL keys at the
source), ``source_rows``; ``loader_file_format``, ``dlt_version``, ``peak_rss_bytes``
(ru_maxrss of the process, imports included).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from resource import RUSAGE_SELF, getrusage
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

DATASET = "peer_population"
PIPELINE_NAME = "bench_peer_population"
LOADER_FILE_FORMAT = "csv"
ROW_HASH = "row_hash"  # scd2: the row version column, dlt's add_row_hash_to_table of each arrow chunk


def destination_uri(uri: str, work_mem: str | None) -> str:
    """``uri`` for dlt's postgres destination: with ``options=-cwork_mem=<work_mem>`` added to its
    query (other options kept), and an empty password when it has none (dlt requires the field;
    a server with trust authentication never asks for it). A socket directory given as libpq's
    ``?host=/dir`` query (the embedded PostgreSQL's URI) moves into the host part, percent-encoded,
    as libpq reads it there too."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query)
    socket_dir = next((v for k, v in query if k == "host"), None)
    if not parts.hostname and socket_dir:  # libpq's ?host=/socket/dir; dlt wants a host: percent-encode it
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@{quote(socket_dir, safe='')}" if user else quote(socket_dir, safe="")
        parts = parts._replace(netloc=netloc, query=urlencode([(k, v) for k, v in query if k != "host"]))
    if parts.password is None and parts.username is not None:
        user, _, host = parts.netloc.rpartition("@")
        parts = parts._replace(netloc=f"{user}:@{host}")
    if not work_mem:
        return urlunsplit(parts)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    options = " ".join(v for k, v in parse_qsl(parts.query) if k == "options")
    query.append(("options", f"{options} -cwork_mem={work_mem}".strip()))
    return urlunsplit(parts._replace(query=urlencode(query)))


def sqlalchemy_url(libpq_uri: str) -> str:
    """The source's SQLAlchemy URL: psycopg2 (SQLAlchemy 2.1 would pick psycopg 3 for postgresql://)."""
    return "postgresql+psycopg2://" + libpq_uri.partition("://")[2]


def _count(uri: str, statement: str) -> int:
    import psycopg2

    conn = psycopg2.connect(uri)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchone()[0]
    finally:
        conn.close()


def run(params: dict) -> dict:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.sources.helpers.transform import add_row_hash_to_table
    from dlt.sources.sql_database import sql_table

    strategy = params["strategy"]
    if strategy == "merge":
        disposition = "merge"
    elif strategy == "scd2":
        disposition = {"disposition": "merge", "strategy": "scd2", "row_version_column_name": ROW_HASH}
    else:
        raise SystemExit(f"strategy must be merge or scd2, got {strategy!r}")

    started = time.perf_counter()
    pipeline = dlt.pipeline(pipeline_name=PIPELINE_NAME, pipelines_dir=params["pipelines_dir"],
                            destination=dlt.destinations.postgres(credentials=destination_uri(params["warehouse_uri"], params.get("work_mem"))),
                            dataset_name=DATASET, progress=None)
    resource = sql_table(credentials=sqlalchemy_url(params["source_uri"]), schema=params["source_schema"],
                         table=params["source_table"], included_columns=params["columns"], backend="pyarrow",
                         primary_key=params["key"],
                         write_disposition=disposition)
    if strategy == "scd2":
        resource.add_map(add_row_hash_to_table(ROW_HASH))
    info = pipeline.run(resource, loader_file_format=LOADER_FILE_FORMAT)
    seconds = time.perf_counter() - started
    info.raise_on_failed_jobs()

    table = f'"{DATASET}"."{params["source_table"]}"'
    key = f'"{params["key"]}"'
    source = f'"{params["source_schema"]}"."{params["source_table"]}"'
    normalized = pipeline.last_trace.last_normalize_info.row_counts
    result = {
        "seconds": seconds,
        "rows": normalized.get(params["source_table"], 0),
        "table_rows": _count(params["warehouse_uri"], f"SELECT count(*) FROM {table}"),
        "source_keys": _count(params["source_uri"], f"SELECT count(DISTINCT {key}) FROM {source}"),
        "source_rows": _count(params["source_uri"], f"SELECT count(*) FROM {source}"),
        "loader_file_format": LOADER_FILE_FORMAT,
        "dlt_version": dlt.__version__,
    }
    if strategy == "scd2":
        result["open_rows"] = _count(params["warehouse_uri"],
                                     f"SELECT count(*) FROM {table} WHERE _dlt_valid_to IS NULL")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True, help="JSON object of the parameters")
    parser.add_argument("--result", required=True, type=Path, help="where to write the JSON result")
    args = parser.parse_args(argv)
    result = run(json.loads(args.params))
    result["peak_rss_bytes"] = getrusage(RUSAGE_SELF).ru_maxrss * 1024
    args.result.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
