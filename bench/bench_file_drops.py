"""``make bench`` (second half): the file-drop pipelines beside raw COPY of the same rows.

* macro_economy: BENCH_MACRO_BYTES (default 10 MB) of GBK long-format CSV from the statistics
  simulator (``macro_economy.write_drop(bench_bytes=...)``), through the pipeline of
  ``base_macro_economy.indicator_value`` (the indicator dimension is loaded first, untimed).
* spatial: BENCH_POLYGONS (default 5,000) county boundary polygons of 41 vertices in one GeoJSON
  file (``spatial.write_drop(polygons=...)``), through the pipeline of
  ``base_spatial.admin_division`` (WKB, GeoJSON text and bbox; PostGIS column when present).

Raw COPY (the floor) loads the same rows, as the pipeline's readers produce them (read
untimed, written to a COPY text file), into an index-free table with the catalog's columns.
The pipeline is timed wall-clock around ``baselib.pipeline.run`` (file reading, encoding
detection, geometry work, Great Expectations, quarantine, the merge with history). Each
workload runs in its own process on a fresh warehouse database, so peak RSS is its own.
BENCH_REPEAT (default 1) repeats and reports medians. BENCH_RESOURCES selects (macro_economy,
spatial; see bench_population.py for the rest). Server: as bench_population.py.

Target (issue 9): the GBK CSV drop's pipeline <= 15x its raw COPY (stated for 10 MB). The line
is printed here and appended to BENCH_TARGETS_FILE when set (scripts/bench.sh sets it), so that
bench_population.py prints it with the other targets at the end. The spatial drop has no target.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_population import fresh_database, server_uri, without_password
from workloads import copy_text, peak_rss_bytes

ROOT = Path(__file__).resolve().parents[1]
FILE_DROP_RESOURCES = ("macro_economy", "spatial")
WAREHOUSE_DB = "baselib_bench_files"
MAX_VS_COPY = {"macro_economy": 15.0}  # issue 9: the 10 MB GBK CSV drop <= 15x raw COPY; spatial has no target
TARGETS = {"macro_economy": "base_macro_economy.indicator_value", "spatial": "base_spatial.admin_division"}
INTERVAL = (dt.datetime(2026, 10, 31, 16, tzinfo=dt.timezone.utc), dt.datetime(2026, 11, 1, 16, tzinfo=dt.timezone.utc))


# --- workloads (each in its own process) -----------------------------------------------------------
def _entry(target: str):
    from baselib.catalog import load_catalog

    return next(r for r in load_catalog() if r.pipeline.target.qualified == target)


def prepare(params: dict) -> dict:
    """Write the drop, and the same rows in COPY text format as the readers produce them."""
    from baselib_simulators import macro_economy, spatial

    landing = Path(params["landing"])
    resource = _entry(TARGETS[params["resource"]])
    if params["resource"] == "macro_economy":
        drop = macro_economy.write_drop(landing, bench_bytes=params["size"])
        files = sorted(drop.value_dir.glob("*.csv"))
    else:
        drop = spatial.write_drop(landing, polygons=params["size"])
        files = sorted(drop.admin_dir.glob("*.geojson"))
    from baselib.sources.file_drop import encoding, geojson, tabular

    rows = 0
    with open(params["copy_file"], "w", encoding="utf-8", newline="\n") as sink:
        for path in files:
            text, _ = encoding.decode(path.read_bytes())
            parsed = (tabular.parse(resource, tabular.read_csv(text), path.name) if path.suffix == ".csv"
                      else geojson.parse(resource, text, path.name))
            for values in zip(*(parsed.column(c) for c in resource.column_names)):
                sink.write("\t".join(copy_text(v) for v in values) + "\n")
            rows += parsed.rows
    return {"rows": rows, "bytes": sum(p.stat().st_size for p in files)}


def raw_copy(params: dict) -> dict:
    from psycopg2 import sql

    from baselib.warehouse import connections, schema

    resource = _entry(TARGETS[params["resource"]])
    table = sql.Identifier("bench", "raw_copy")
    columns = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(i.name), sql.SQL(schema.column_type(i)))
                                 for i in resource.items)
    conn = connections.connect()
    with conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS bench")
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
    conn.commit()
    with conn.cursor() as cur, open(params["copy_file"], "rb") as rows:
        statement = sql.SQL("COPY {} FROM STDIN").format(table).as_string(cur)
        started = time.perf_counter()
        cur.copy_expert(statement, rows, size=1 << 20)
        conn.commit()
        seconds = time.perf_counter() - started
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
        count = cur.fetchone()[0]
    conn.close()
    return {"seconds": seconds, "rows": count, "peak_rss_bytes": peak_rss_bytes()}


def pipeline_run(params: dict) -> dict:
    from baselib import pipeline

    resource = _entry(TARGETS[params["resource"]])

    def run(entry, run_id):
        info = pipeline.RunInfo(dag_id=entry.dag_id, run_id=run_id, logical_date=INTERVAL[0],
                                data_interval_start=INTERVAL[0], data_interval_end=INTERVAL[1])
        return pipeline.run(entry, info)

    if params["resource"] == "macro_economy":
        run(_entry("base_macro_economy.indicator"), "bench-indicators")  # the dimension, untimed
    started = time.perf_counter()
    summary = run(resource, "bench")
    seconds = time.perf_counter() - started
    accounted = summary["rows_inserted"] + summary["rows_updated"] + summary["rows_unchanged"] + summary["rows_quarantined"]
    if summary["status"] != "success" or accounted != summary["rows_extracted"]:
        raise SystemExit(f"pipeline did not account for its rows: {summary}")
    from baselib.warehouse import connections

    with connections.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT extract_seconds, validate_seconds, load_seconds FROM ops.load_run WHERE load_id = %s",
                    (summary["load_id"],))
        steps = dict(zip(("extract", "validate", "load"), cur.fetchone()))
    return {"seconds": seconds, "rows": summary["rows_extracted"], "inserted": summary["rows_inserted"],
            "steps": steps, "peak_rss_bytes": peak_rss_bytes()}


WORKLOADS = {"prepare": prepare, "raw_copy": raw_copy, "pipeline": pipeline_run}


# --- the driver -------------------------------------------------------------------------------------
def _child(name: str, params: dict, env: dict) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        result_path = Path(out.name)
    done = subprocess.run([sys.executable, __file__, "--workload", name, json.dumps(params), str(result_path)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench failed: workload {name} ({params.get('resource')}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    return result


def _env(workdir: Path, warehouse: str) -> dict:
    pythonpath = os.pathsep.join(p for p in (str(ROOT / "plugins"), str(ROOT / "bench"), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": pythonpath, "AIRFLOW_CONN_WAREHOUSE": warehouse, "WAREHOUSE_URL": warehouse,
            "BASELIB_STAGING_URL": (workdir / "staging").as_uri(), "BASELIB_REPORTS_DIR": str(workdir / "reports"),
            "BASELIB_LANDING_URL": (workdir / "landing").as_uri()}


def _selected() -> list[str]:
    raw = os.environ.get("BENCH_RESOURCES", "").strip()
    wanted = {r.strip() for r in raw.split(",") if r.strip()} if raw else set(FILE_DROP_RESOURCES)
    return [r for r in FILE_DROP_RESOURCES if r in wanted]


def _positive(name: str, default: int) -> int:
    value = int(os.environ.get(name, "").replace("_", "") or default)
    if value < 1:
        sys.exit(f"{name} must be a positive integer")
    return value


def bench(resource: str, size: int, repeat: int, server: str, workdir: Path) -> None:
    copy_file = workdir / f"{resource}.copy"
    landing = workdir / "landing"
    prepared = _child("prepare", {"resource": resource, "size": size, "landing": str(landing),
                                  "copy_file": str(copy_file)}, _env(workdir, server))
    label = (f"{prepared['bytes'] / 1e6:.1f} MB of GBK CSV" if resource == "macro_economy"
             else f"{prepared['rows']:,} boundary polygons ({prepared['bytes'] / 1e6:.1f} MB GeoJSON)")
    print(f"== {resource}: {label}, {prepared['rows']:,} rows; repeat {repeat}", flush=True)
    copies, runs = [], []
    for _ in range(repeat):
        copies.append(_child("raw_copy", {"resource": resource, "copy_file": str(copy_file)},
                             _env(workdir, fresh_database(server, WAREHOUSE_DB))))
        env = _env(workdir, fresh_database(server, WAREHOUSE_DB))
        runs.append(_child("pipeline", {"resource": resource}, env))
    copy_s = statistics.median(c["seconds"] for c in copies)
    run_s = statistics.median(r["seconds"] for r in runs)
    if any(c["rows"] != prepared["rows"] for c in copies) or any(r["rows"] != prepared["rows"] for r in runs):
        sys.exit(f"bench failed: row counts differ: prepared {prepared['rows']}, copy {copies}, pipeline {runs}")
    print(f"{'workload':<12}{'rows':>10}{'median s':>10}{'rows/s':>12}{'vs COPY':>9}{'peak RSS':>10}")
    for name, seconds, rss in (("raw COPY", copy_s, max(c["peak_rss_bytes"] for c in copies)),
                               ("pipeline", run_s, max(r["peak_rss_bytes"] for r in runs))):
        print(f"{name:<12}{prepared['rows']:>10,}{seconds:>10.2f}{prepared['rows'] / seconds:>12,.0f}"
              f"{seconds / copy_s:>8.1f}x{rss / 1e9:>8.2f}GB")
    steps = {k: statistics.median(r["steps"][k] for r in runs) for k in ("extract", "validate", "load")}
    print("pipeline steps (ops.load_run, median s): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    print(f"{resource}_pipeline_vs_copy={run_s / copy_s:.2f}", flush=True)
    if resource in MAX_VS_COPY:
        limit, ratio = MAX_VS_COPY[resource], run_s / copy_s
        stated = "" if size == 10_000_000 else f" (stated for 10 MB; this run {prepared['bytes'] / 1e6:.1f} MB)"
        add_target(ratio <= limit, f"{label} drop <= {limit:g}x raw COPY: {ratio:.2f}x "
                                   f"({run_s:.2f} s vs {copy_s:.2f} s){stated}")


def add_target(met: bool, text: str) -> None:
    """Print a target line, and append it to BENCH_TARGETS_FILE (bench_population.py prints
    all targets together at the end of ``make bench``)."""
    print(f"  [{'met' if met else 'MISSED'}] {text}", flush=True)
    path = os.environ.get("BENCH_TARGETS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as sink:
            sink.write(json.dumps({"met": met, "text": text}, ensure_ascii=False) + "\n")


def main() -> None:
    selected = _selected()
    if not selected:
        return
    server, origin = server_uri()
    repeat = _positive("BENCH_REPEAT", 1)
    print(f"baselib file-drop benchmark; server {without_password(server)} ({origin})", flush=True)
    sizes = {"macro_economy": _positive("BENCH_MACRO_BYTES", 10_000_000), "spatial": _positive("BENCH_POLYGONS", 5_000)}
    from baselib.warehouse import provision

    with tempfile.TemporaryDirectory(prefix="baselib-bench-files-") as tmp:
        try:
            for resource in selected:
                bench(resource, sizes[resource], repeat, server, Path(tmp) / resource)
        finally:
            provision.drop_database(server, WAREHOUSE_DB)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--workload":
        result = WORKLOADS[sys.argv[2]](json.loads(sys.argv[3]))
        Path(sys.argv[4]).write_text(json.dumps(result), encoding="utf-8")
    else:
        main()
