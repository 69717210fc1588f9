"""``make bench``: how fast the pipelines move N rows, next to a floor (and, for population, a baseline).

What is measured, each in its own process on a fresh warehouse database (see workloads.py):

* raw COPY (the floor): the source's rows, exported beforehand to a file in COPY's text
  format, copied into an empty table with the same nine columns and no indexes. Only the
  ``COPY ... FROM STDIN`` and its commit are timed.
* to_sql (the tutorial baseline): ``pandas.DataFrame.to_sql`` of a sample (default 20,000
  rows) into the same kind of table, scaled to rows/s.
* design floor: what the load design alone costs, with no extraction and no checks: the same
  rows COPYed into a staging table and inserted, in key order, into the indexed base table and
  the indexed history table in one transaction. No pipeline that stages, merges and keeps
  history can run faster than this.
* pipeline: ``baselib.pipeline.run`` in full mode over the whole source: extract (COPY out to
  Parquet parts), validate (Great Expectations, quarantine), load (staging COPY and the SCD2
  merge into base table and history) and record. Timed wall-clock around the whole run, fixed
  costs such as importing Great Expectations included; the per-step seconds come from
  ``ops.load_run``.

After the population benchmark (its targets section included), two more resources, each as
raw COPY (the floor) beside the pipeline in full mode, each in its own process:

* legal_entity: BENCH_LEGAL_ENTITY_ROWS (default 1,000,000) rows simulated into
  ``frontend.legal_entity`` of the ``dept_market_regulation`` source database (baselib_bench_src_le);
  raw COPY of the catalog's item columns exported from there; the pipeline of
  ``base_legal_entity.legal_entity``.
* certificate: BENCH_CERTIFICATE_ROWS (default 200,000) e-licence records
  (``certificates.generate`` with empty holder lists, so every holder is a fresh valid code);
  raw COPY of the same records (catalog item columns, catalog order, COPY text file written
  untimed); the pipeline of ``base_e_certificate.certificate`` paging through the simulated HTTP
  API, which runs in a separate process (started before and stopped after each pipeline run) so
  that the pipeline's peak RSS is its own. The warehouse is empty, so the cross-library checks
  find no base_population.person / base_legal_entity.legal_entity: they record
  reference_exists=false and the run goes on.

Each prints a results table and ``<resource>_pipeline_vs_copy=<ratio>``. BENCH_RESOURCES (comma
list among population, legal_entity, certificate; default all three) selects what runs.

Peak memory is each process's high-water RSS (ru_maxrss). The PostgreSQL server's own memory
is not included. The last line is ``pipeline_vs_copy=<population pipeline seconds / raw COPY
seconds>`` (only when population is among BENCH_RESOURCES).

Environment: BENCH_ROWS (default 1,000,000), BENCH_REPEAT (default 1; medians are reported),
BENCH_TO_SQL_ROWS (default 20,000), BENCH_TO_SQL_METHOD (``default``: pandas' own defaults, i.e.
SQLAlchemy's batched executemany; ``multi``: multi-row INSERTs of 1,000 rows, slower on
SQLAlchemy 2), BENCH_LEGAL_ENTITY_ROWS, BENCH_CERTIFICATE_ROWS, BENCH_RESOURCES. The server is
WAREHOUSE_URL's if set, else TEST_DATABASE_URL's, else the embedded PostgreSQL; the databases
baselib_bench_wh, baselib_bench_src and baselib_bench_src_le are dropped and created there, and
dropped again at the end.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS_SCRIPT = Path(__file__).resolve().with_name("workloads.py")
FILE_DROP_RESOURCES = ("macro_economy", "spatial")  # benchmarked by bench_file_drops.py
WAREHOUSE_DB = "baselib_bench_wh"
SOURCE_DB = "baselib_bench_src"
LEGAL_ENTITY_SOURCE_DB = "baselib_bench_src_le"
RESOURCES = ("population", "legal_entity", "certificate")
SERVER_START_TIMEOUT = 300   # seconds for the API process to load its records and listen
TO_SQL_METHODS = ("default", "multi")

MAX_SLOWDOWN_VS_COPY = 4.0
MIN_SPEEDUP_VS_TO_SQL = 10.0
MAX_PEAK_BYTES = 1.5e9
TARGET_ROWS = 1_000_000     # the size the targets are stated for
LOG_TAIL_LINES = 40


class BenchError(RuntimeError):
    """A workload failed or produced an impossible result: the benchmark exits non-zero."""


@dataclass(frozen=True)
class Config:
    rows: int
    repeat: int
    to_sql_rows: int
    to_sql_method: str
    resources: tuple[str, ...] = RESOURCES
    legal_entity_rows: int = 1_000_000
    certificate_rows: int = 200_000

    @classmethod
    def from_env(cls) -> Config:
        rows = _positive_int("BENCH_ROWS", 1_000_000)
        method = os.environ.get("BENCH_TO_SQL_METHOD", "default").strip() or "default"
        if method not in TO_SQL_METHODS:
            raise SystemExit(f"BENCH_TO_SQL_METHOD must be one of {TO_SQL_METHODS}, got {method!r}")
        raw = os.environ.get("BENCH_RESOURCES", "").strip()
        wanted = {r.strip() for r in raw.split(",") if r.strip()} if raw else set(RESOURCES)
        known = set(RESOURCES) | set(FILE_DROP_RESOURCES)
        if not wanted or wanted - known:
            raise SystemExit(f"BENCH_RESOURCES must be a comma list among {', '.join(sorted(known))}, got {raw!r}")
        return cls(rows=rows, repeat=_positive_int("BENCH_REPEAT", 1),
                   to_sql_rows=min(rows, _positive_int("BENCH_TO_SQL_ROWS", 20_000)), to_sql_method=method,
                   resources=tuple(r for r in RESOURCES if r in wanted),
                   legal_entity_rows=_positive_int("BENCH_LEGAL_ENTITY_ROWS", 1_000_000),
                   certificate_rows=_positive_int("BENCH_CERTIFICATE_ROWS", 200_000))

    @property
    def to_sql_params(self) -> dict:
        """pandas arguments: the plain default, or the "multi" recipe many tutorials give."""
        if self.to_sql_method == "multi":
            return {"rows": self.to_sql_rows, "method": "multi", "chunksize": 1_000}
        return {"rows": self.to_sql_rows, "method": None, "chunksize": None}


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip().replace("_", "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise SystemExit(f"{name} must be a positive integer, got {value}")
    return value


@dataclass
class Measurement:
    """One workload's run, as written by workloads.py."""

    rows: int
    seconds: float
    peak_rss_bytes: int
    details: dict

    @classmethod
    def from_result(cls, result: dict) -> Measurement:
        return cls(rows=result.pop("rows"), seconds=result.pop("seconds"),
                   peak_rss_bytes=result.pop("peak_rss_bytes"), details=result)


@dataclass
class Summary:
    """The median of one workload's repeats (peak memory: the highest)."""

    label: str
    rows: int
    seconds: float
    peak_rss_bytes: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @classmethod
    def of(cls, label: str, runs: list[Measurement]) -> Summary:
        return cls(label=label, rows=runs[0].rows, seconds=statistics.median(m.seconds for m in runs),
                   peak_rss_bytes=max(m.peak_rss_bytes for m in runs))


# --- databases and processes -------------------------------------------------------------------

def server_uri() -> tuple[str, str]:
    """(URI of the server to use, where it came from)."""
    for variable in ("WAREHOUSE_URL", "TEST_DATABASE_URL"):
        if os.environ.get(variable):
            return os.environ[variable], variable
    from baselib.warehouse import embedded

    return embedded.start(), "embedded PostgreSQL"


def without_password(uri: str) -> str:
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def database_uri(server: str, name: str) -> str:
    from baselib.warehouse import provision

    return provision.with_database(server, name)


def fresh_database(server: str, name: str) -> str:
    """Drop ``name`` if it exists, create it empty, return its URI."""
    from baselib.warehouse import provision

    provision.drop_database(server, name)
    return provision.ensure_database(server, name)


def drop_databases(server: str) -> None:
    from baselib.warehouse import provision

    for name in (WAREHOUSE_DB, SOURCE_DB, LEGAL_ENTITY_SOURCE_DB):
        provision.drop_database(server, name)


def workload_env(workdir: Path, warehouse: str, source: str | dict[str, str]) -> dict[str, str]:
    """The children's environment: bench databases only, staging and reports under workdir.

    ``source`` is the population source database's URI, or a dict of extra environment
    variables (source connections such as AIRFLOW_CONN_DEPT_MARKET_REGULATION)."""
    pythonpath = os.pathsep.join(p for p in (str(ROOT / "plugins"), os.environ.get("PYTHONPATH")) if p)
    extra = source if isinstance(source, dict) else {"AIRFLOW_CONN_DEPT_PUBLIC_SECURITY": source}
    return {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "WAREHOUSE_URL": warehouse,
        "AIRFLOW_CONN_WAREHOUSE": warehouse,
        **extra,
        "BASELIB_STAGING_URL": (workdir / "staging").as_uri(),
        "BASELIB_REPORTS_DIR": str(workdir / "reports"),
    }


def _workload_command(name: str, params: dict, result_path: Path) -> list[str]:
    return [sys.executable, str(WORKLOADS_SCRIPT), name, "--params", json.dumps(params), "--result", str(result_path)]


def _workload_failed(name: str, returncode: int, log_path: Path) -> BenchError:
    tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
    print("\n".join(tail), file=sys.stderr)
    return BenchError(f"workload {name} failed with exit status {returncode}")


def _read_result(result_path: Path) -> dict:
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    return result


def run_workload(name: str, params: dict, env: dict[str, str], workdir: Path) -> dict:
    """Run one workload in a child process; its output goes to a log shown only on failure."""
    result_path = workdir / f"{name}.json"
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        completed = subprocess.run(_workload_command(name, params, result_path), env=env, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=ROOT)
    if completed.returncode != 0:
        raise _workload_failed(name, completed.returncode, log_path)
    return _read_result(result_path)


class CertificateApi:
    """The simulated e-licence API in its own process (workloads.py serve_certificates):
    started before a certificate pipeline run and stopped (SIGTERM) after it."""

    def __init__(self, records_file: Path, workdir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.uri_file = workdir / "certificate_api.uri"
        self.result_path = workdir / "serve_certificates.json"
        self.log_path = workdir / "serve_certificates.log"
        self.uri_file.unlink(missing_ok=True)
        params = {"records_file": str(records_file), "uri_file": str(self.uri_file)}
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(_workload_command("serve_certificates", params, self.result_path), env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)

    def connection_uri(self) -> str:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not self.uri_file.exists():
            if self.process.poll() is not None:
                raise _workload_failed("serve_certificates", self.process.returncode, self.log_path)
            if time.monotonic() > deadline:
                raise BenchError(f"the certificate API did not start within {SERVER_START_TIMEOUT} s")
            time.sleep(0.1)
        return self.uri_file.read_text(encoding="utf-8")

    def stop(self) -> dict | None:
        """Stop the server; its result (requests served, peak RSS) if it stopped cleanly."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            self._log.close()
        if self.process.returncode != 0 or not self.result_path.exists():
            return None
        return _read_result(self.result_path)


# --- the benchmark ------------------------------------------------------------------------------

def prepare_source(config: Config, server: str, source: str, workdir: Path) -> tuple[dict, Path]:
    """Fill the source database with the simulator and export its rows to a COPY file."""
    copy_file = workdir / "population.copy"
    env = workload_env(workdir, database_uri(server, WAREHOUSE_DB), source)  # the warehouse is not used
    print(f"== Simulating the source: {config.rows:,} people (untimed)", flush=True)
    prepared = run_workload("prepare_source", {"rows": config.rows, "copy_file": str(copy_file)}, env, workdir)
    defects = ", ".join(f"{k}={v:,}" for k, v in sorted(prepared["defects"].items()))
    print(f"   {prepared['source_rows']:,} source rows in {prepared['simulate_seconds']:.1f} s "
          f"(duplicates and defects included: {defects}); COPY export {prepared['copy_file_bytes'] / 1e6:,.0f} MB",
          flush=True)
    return prepared, copy_file


def measure(name: str, params: dict, server: str, source: str, workdir: Path) -> Measurement:
    """One workload against a freshly created, empty warehouse database."""
    env = workload_env(workdir, fresh_database(server, WAREHOUSE_DB), source)
    return Measurement.from_result(run_workload(name, params, env, workdir))


def measure_repeat(n: int, config: Config, server: str, source: str, copy_file: Path,
                   workdir: Path) -> dict[str, Measurement]:
    runs = {
        "raw_copy": measure("raw_copy", {"copy_file": str(copy_file)}, server, source, workdir),
        "to_sql": measure("to_sql", config.to_sql_params, server, source, workdir),
        "design_floor": measure("design_floor", {"copy_file": str(copy_file)}, server, source, workdir),
        "pipeline": measure("pipeline", {"run_id": f"bench-{n}"}, server, source, workdir),
    }
    print(f"   repeat {n}/{config.repeat}: raw COPY {runs['raw_copy'].seconds:.2f} s, "
          f"to_sql {runs['to_sql'].seconds:.2f} s ({runs['to_sql'].rows:,} rows), "
          f"design floor {runs['design_floor'].seconds:.2f} s, "
          f"pipeline {runs['pipeline'].seconds:.2f} s", flush=True)
    return runs


def check_consistent(source_rows: int, config: Config, repeats: list[dict[str, Measurement]]) -> None:
    """Every repeat moved every row, and the pipeline accounted for each one."""
    for runs in repeats:
        pipeline = runs["pipeline"]
        counts = pipeline.details["counts"]
        expected = {"raw_copy": source_rows, "to_sql": config.to_sql_rows, "pipeline": source_rows}
        for name, rows in expected.items():
            if runs[name].rows != rows:
                raise BenchError(f"{name} moved {runs[name].rows:,} rows, expected {rows:,}")
        if pipeline.details["status"] != "success":
            raise BenchError(f"pipeline run ended with status {pipeline.details['status']!r}")
        loaded = counts["rows_inserted"] + counts["rows_quarantined"]
        if loaded != source_rows:
            raise BenchError(f"pipeline inserted + quarantined {loaded:,} rows of {source_rows:,}")


# --- the report ---------------------------------------------------------------------------------

def print_table(summaries: list[Summary]) -> None:
    print(f"{'workload':<28}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak RSS':>12}")
    for s in summaries:
        print(f"{s.label:<28}{s.rows:>12,}{s.seconds:>10.2f}{s.rows_per_second:>12,.0f}"
              f"{s.peak_rss_bytes / 1e6:>9,.0f} MB")


def print_pipeline_details(pipeline_runs: list[Measurement], pipeline_seconds: float) -> None:
    steps = {step: statistics.median(m.details["steps"][step] for m in pipeline_runs)
             for step in ("extract", "validate", "load")}
    other = pipeline_seconds - sum(steps.values())
    print("pipeline steps (ops.load_run): " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items())
          + f"; record and bookkeeping {other:.2f} s")
    counts = pipeline_runs[-1].details["counts"]
    print("pipeline rows: " + ", ".join(f"{k.removeprefix('rows_')} {v:,}" for k, v in counts.items() if v is not None))


def print_targets(config: Config, copy: Summary, to_sql: Summary, pipeline: Summary) -> None:
    slowdown = pipeline.seconds / copy.seconds
    speedup = pipeline.rows_per_second / to_sql.rows_per_second
    peak_gb = pipeline.peak_rss_bytes / 1e9
    if config.rows != TARGET_ROWS:
        peak_gb_note = f"{peak_gb:.2f} GB (the target is stated for {TARGET_ROWS:,} rows; this run: {config.rows:,})"
    else:
        peak_gb_note = f"{peak_gb:.2f} GB"
    targets = [
        (slowdown <= MAX_SLOWDOWN_VS_COPY,
         f"pipeline within {MAX_SLOWDOWN_VS_COPY:g}x of raw COPY: {slowdown:.2f}x the COPY time"),
        (speedup >= MIN_SPEEDUP_VS_TO_SQL,
         f"pipeline at least {MIN_SPEEDUP_VS_TO_SQL:g}x faster than to_sql: {speedup:.1f}x"),
        (pipeline.peak_rss_bytes < MAX_PEAK_BYTES,
         f"pipeline peak memory under {MAX_PEAK_BYTES / 1e9:g} GB: {peak_gb_note}"),
    ]
    print("== Targets")
    for met, text in targets:
        print(f"  [{'met' if met else 'MISSED'}] {text}")


def report(config: Config, repeats: list[dict[str, Measurement]], wall_seconds: float) -> float:
    """Print the population results; return pipeline / raw COPY (printed last, by main)."""
    copy = Summary.of("raw COPY (floor)", [r["raw_copy"] for r in repeats])
    to_sql = Summary.of(f"to_sql ({config.to_sql_rows:,}-row sample)", [r["to_sql"] for r in repeats])
    floor = Summary.of("design floor (no checks)", [r["design_floor"] for r in repeats])
    pipeline = Summary.of("pipeline", [r["pipeline"] for r in repeats])
    which = f"median of {config.repeat} repeats" if config.repeat > 1 else "1 run"
    print(f"== Results ({which}; benchmark wall time {wall_seconds:.0f} s)")
    print_table([copy, to_sql, floor, pipeline])
    params = config.to_sql_params
    print(f"to_sql: DataFrame.to_sql(method={params['method']!r}, chunksize={params['chunksize']!r}) through "
          f"SQLAlchemy + psycopg2; raw COPY: text format from a file, no indexes")
    print_pipeline_details([r["pipeline"] for r in repeats], pipeline.seconds)
    print("design floor: staging COPY + key-ordered INSERTs into the indexed base and history tables, "
          f"one transaction, no extract or checks = {floor.seconds / copy.seconds:.2f}x raw COPY")
    print_targets(config, copy, to_sql, pipeline)
    return pipeline.seconds / copy.seconds


# --- legal entity and certificates: raw COPY beside the pipeline --------------------------------

def check_pipeline_runs(resource: str, source_rows: int, repeats: list[dict[str, Measurement]]) -> None:
    """As check_consistent: every row moved, and the pipeline accounted for each one."""
    for runs in repeats:
        pipeline = runs["pipeline"]
        for name in ("raw_copy", "pipeline"):
            if runs[name].rows != source_rows:
                raise BenchError(f"{resource}: {name} moved {runs[name].rows:,} rows, expected {source_rows:,}")
        if pipeline.details["status"] != "success":
            raise BenchError(f"{resource}: pipeline run ended with status {pipeline.details['status']!r}")
        counts = pipeline.details["counts"]
        loaded = counts["rows_inserted"] + counts["rows_quarantined"]
        if loaded != source_rows:
            raise BenchError(f"{resource}: pipeline inserted + quarantined {loaded:,} rows of {source_rows:,}")


def report_resource(resource: str, config: Config, repeats: list[dict[str, Measurement]],
                    seconds: float, notes: list[str]) -> float:
    copy = Summary.of("raw COPY (floor)", [r["raw_copy"] for r in repeats])
    pipeline = Summary.of("pipeline", [r["pipeline"] for r in repeats])
    which = f"median of {config.repeat} repeats" if config.repeat > 1 else "1 run"
    print(f"== Results: {resource} ({which}; section wall time {seconds:.0f} s)")
    print_table([copy, pipeline])
    print_pipeline_details([r["pipeline"] for r in repeats], pipeline.seconds)
    for note in notes:
        print(note)
    ratio = pipeline.seconds / copy.seconds
    print(f"{resource}_pipeline_vs_copy={ratio:.2f}", flush=True)
    return ratio


def cross_check_note(pipeline_runs: list[Measurement]) -> str | None:
    checks = pipeline_runs[-1].details.get("cross_checks") or {}
    if not checks:
        return None
    parts = []
    for name, check in checks.items():
        rate = check.get("match_rate")
        parts.append(f"{name} checked {check.get('checked', 0):,}, matched {check.get('matched', 0):,}"
                     f"{'' if rate is None else f' (rate {rate})'}, reference_exists={str(check.get('reference_exists')).lower()}")
    missing = [name for name, check in checks.items() if check.get("reference_exists") is False]
    note = "cross-library checks: " + "; ".join(parts)
    if missing:
        note += ("\n  (the bench warehouse is empty apart from this resource: base_population.person and "
                 "base_legal_entity.legal_entity do not exist there, so these checks recorded "
                 "reference_exists=false and the run continued)")
    return note


def bench_legal_entity(config: Config, server: str, workdir: Path) -> float:
    started = time.perf_counter()
    rows = config.legal_entity_rows
    source = {"AIRFLOW_CONN_DEPT_MARKET_REGULATION": fresh_database(server, LEGAL_ENTITY_SOURCE_DB)}
    copy_file = workdir / "legal_entity.copy"
    print(f"== legal_entity: simulating {rows:,} legal entities into frontend.legal_entity (untimed)", flush=True)
    env = workload_env(workdir, database_uri(server, WAREHOUSE_DB), source)
    prepared = run_workload("prepare_source", {"resource": "legal_entity", "rows": rows,
                                               "copy_file": str(copy_file)}, env, workdir)
    defects = ", ".join(f"{k}={v:,}" for k, v in sorted(prepared["defects"].items()))
    print(f"   {prepared['source_rows']:,} source rows in {prepared['simulate_seconds']:.1f} s "
          f"(defects: {defects}); COPY export {prepared['copy_file_bytes'] / 1e6:,.0f} MB", flush=True)
    repeats = []
    for n in range(1, config.repeat + 1):
        runs = {
            "raw_copy": measure("raw_copy", {"resource": "legal_entity", "copy_file": str(copy_file)},
                                server, source, workdir),
            "pipeline": measure("pipeline", {"resource": "legal_entity", "run_id": f"bench-legal-entity-{n}"},
                                server, source, workdir),
        }
        print(f"   repeat {n}/{config.repeat}: raw COPY {runs['raw_copy'].seconds:.2f} s, "
              f"pipeline {runs['pipeline'].seconds:.2f} s", flush=True)
        repeats.append(runs)
    copy_file.unlink()
    check_pipeline_runs("legal_entity", prepared["source_rows"], repeats)
    return report_resource("legal_entity", config, repeats, time.perf_counter() - started,
                           ["raw COPY: the catalog's item columns exported from frontend.legal_entity, "
                            "text format, into an empty unindexed table with the warehouse column types"])


def bench_certificate(config: Config, server: str, workdir: Path) -> float:
    started = time.perf_counter()
    rows = config.certificate_rows
    records_file, copy_file = workdir / "certificates.json", workdir / "certificate.copy"
    print(f"== certificate: generating {rows:,} e-licence records (untimed)", flush=True)
    env = workload_env(workdir, database_uri(server, WAREHOUSE_DB), {})
    prepared = run_workload("prepare_certificates", {"rows": rows, "records_file": str(records_file),
                                                     "copy_file": str(copy_file)}, env, workdir)
    defects = ", ".join(f"{k}={v:,}" for k, v in sorted(prepared["defects"].items()))
    print(f"   {prepared['source_rows']:,} records in {prepared['simulate_seconds']:.1f} s (defects: {defects}); "
          f"COPY file {prepared['copy_file_bytes'] / 1e6:,.0f} MB", flush=True)
    repeats, servers = [], []
    for n in range(1, config.repeat + 1):
        raw = measure("raw_copy", {"resource": "certificate", "copy_file": str(copy_file)}, server, {}, workdir)
        api = CertificateApi(records_file, workdir, env)
        try:
            extra = {"AIRFLOW_CONN_E_LICENCE_API": api.connection_uri()}
            pipeline = measure("pipeline", {"resource": "certificate", "run_id": f"bench-certificate-{n}"},
                               server, extra, workdir)
        finally:
            served = api.stop()
        servers.append(served)
        print(f"   repeat {n}/{config.repeat}: raw COPY {raw.seconds:.2f} s, pipeline {pipeline.seconds:.2f} s",
              flush=True)
        repeats.append({"raw_copy": raw, "pipeline": pipeline})
    check_pipeline_runs("certificate", prepared["source_rows"], repeats)
    notes = ["raw COPY: the same records, catalog item columns in catalog order, from a COPY text file "
             "written untimed, into an empty unindexed table with the warehouse column types"]
    last = servers[-1]
    if last:
        notes.append(f"API server: a separate process (started before, stopped after each pipeline run; not in "
                     f"the pipeline's peak RSS): {last['requests']:,} requests, statuses {last['statuses']}, "
                     f"server peak RSS {last['peak_rss_bytes'] / 1e6:,.0f} MB")
    else:
        notes.append("API server: a separate process (started before, stopped after each pipeline run)")
    note = cross_check_note([r["pipeline"] for r in repeats])
    if note:
        notes.append(note)
    return report_resource("certificate", config, repeats, time.perf_counter() - started, notes)


def bench_population(config: Config, server: str, workdir: Path, started: float) -> float:
    source = fresh_database(server, SOURCE_DB)
    prepared, copy_file = prepare_source(config, server, source, workdir)
    print("== Measuring: raw COPY, to_sql, pipeline (each in its own process, on an empty warehouse)", flush=True)
    repeats = [measure_repeat(n, config, server, source, copy_file, workdir) for n in range(1, config.repeat + 1)]
    copy_file.unlink()
    provision_drop(server, SOURCE_DB)
    check_consistent(prepared["source_rows"], config, repeats)
    return report(config, repeats, time.perf_counter() - started)


def provision_drop(server: str, name: str) -> None:
    from baselib.warehouse import provision

    provision.drop_database(server, name)


def main() -> None:
    started = time.perf_counter()
    config = Config.from_env()
    if not config.resources:
        return  # only file-drop resources were selected: bench_file_drops.py runs them
    server, origin = server_uri()
    sizes = {"population": f"population {config.rows:,} rows", "legal_entity": f"legal_entity {config.legal_entity_rows:,} rows",
             "certificate": f"certificate {config.certificate_rows:,} records"}
    print(f"baselib benchmark: {', '.join(sizes[r] for r in config.resources)}; repeat {config.repeat}; "
          f"server {without_password(server)} ({origin})", flush=True)
    population_ratio = None
    with tempfile.TemporaryDirectory(prefix="baselib-bench-") as tmp:
        workdir = Path(tmp)
        try:
            if "population" in config.resources:
                population_ratio = bench_population(config, server, workdir, started)
            if "legal_entity" in config.resources:
                bench_legal_entity(config, server, workdir)
                provision_drop(server, LEGAL_ENTITY_SOURCE_DB)
            if "certificate" in config.resources:
                bench_certificate(config, server, workdir)
        finally:
            drop_databases(server)
    print(f"== Benchmark wall time {time.perf_counter() - started:.0f} s", flush=True)
    if population_ratio is not None:
        print(f"pipeline_vs_copy={population_ratio:.2f}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"bench failed: {exc}")
