"""The four steps of a resource's run: extract → validate → load → record.

Each step takes and returns small JSON-able dicts (URIs and counts), so Airflow tasks can pass
them through XCom; the rows themselves travel as Parquet parts in object storage. The steps
run without Airflow: tests and the benchmark call them directly.

A step that fails records ``"<class>: <message>"`` on the run (``ops.load_run.error``, also
appended to ``error_history``) and raises the same exception, its message redacted of
credentials and detached from the exceptions it was raised from (Airflow logs the traceback).
A retried step that succeeds clears ``error``.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import sql

from baselib import quarantine, sources, storage
from baselib.catalog.model import Resource
from baselib.catalog.publish import publish
from baselib.errors import BlockingQualityFailure, CatalogError
from baselib.loading.merge import count_absent, merge
from baselib.records import load_run, sync_metrics
from baselib.security import redaction
from baselib.settings import REPORTS_DIR
from baselib.sources.extract import DELIVERY_ID
from baselib.sources.window import ExtractWindow
from baselib.validation import context_checks, cross_checks, delivery_quality
from baselib.warehouse import connections, schema, sqlfiles

log = logging.getLogger(__name__)

MODES = ("auto", "full", "incremental", "reconcile")


@dataclass(frozen=True)
class RunInfo:
    """What the orchestrator knows about this run."""

    dag_id: str
    run_id: str
    logical_date: dt.datetime | None
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None
    mode: str = "auto"  # auto: full on the first run, incremental after; reconcile: full + deletions


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def resolve_window(resource: Resource, run: RunInfo, watermark: dt.datetime | None) -> tuple[str, ExtractWindow]:
    """Decide the mode and the slice of source rows.

    * reconcile: the whole source as it is now, without an upper bound. Every key present at
      the source is alive, whatever its incremental value: a reconcile for day 1 run on day 2
      must not flag a row changed on day 2 deleted. Rows changed after the interval load with
      their current values (the watermark only moves forward).
    * full / first run: everything up to the interval end.
    * incremental: ``(min(watermark, interval start) - lookback_seconds, interval end]`` — a rerun
      or backfill of a date re-reads its own interval (and changes nothing already right); a gap
      since the last load is covered because the lower bound never passes the watermark; the
      look-back re-reads rows a source transaction committed after the last extract with an
      earlier incremental value (they cost nothing when unchanged). Rows committed later than
      the look-back are found only by a reconcile.
    """
    if run.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {run.mode!r}")
    upper = run.data_interval_end
    if resource.delivery_based:
        # Each file is a delivery of changes, never a snapshot of the whole resource.
        if run.mode == "reconcile":
            raise CatalogError(f"{resource.code}: mode 'reconcile' needs a full snapshot of the source; a file drop "
                             "delivers changes (use 'full' to reprocess every file in the landing folder)")
        return ("full" if run.mode == "full" else "incremental"), ExtractWindow(None, None)
    source = resource.pipeline.source
    if source.incremental_column is None or run.mode == "reconcile":
        return ("reconcile" if run.mode == "reconcile" else "full"), ExtractWindow(None, None)
    if run.mode == "full" or watermark is None:
        return "full", ExtractWindow(None, upper)
    start = run.data_interval_start or watermark
    return "incremental", ExtractWindow(min(watermark, start) - dt.timedelta(seconds=source.lookback_seconds), upper)


def _step(fn):
    """Whatever a step raises reaches its caller redacted and unchained (:func:`redaction.scrub`)."""
    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised below, outside the handler: no implicit chaining
            clean = redaction.scrub(exc)
        raise clean

    return guarded


@_step
def extract(resource: Resource, run: RunInfo) -> dict:
    """Prepare the warehouse, open the run record, and stream the source into Parquet parts."""
    started = time.monotonic()
    with connections.transaction() as conn:
        schema.ensure(conn, [resource])
        publish(conn, resource)
        watermark = load_run.last_watermark(conn, resource.code)
        mode, window = resolve_window(resource, run, watermark)
        load_id = load_run.start(
            conn, resource_code=resource.code, dag_id=run.dag_id, run_id=run.run_id,
            logical_date=run.logical_date, data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end, mode=mode,
        )
        load_run.update(conn, load_id, watermark_from=window.lower, watermark_to=window.upper)
    prefix = storage.load_prefix(resource.dag_id, load_id)
    storage.remove(prefix)  # a retried extract starts clean
    try:
        source = sources.for_resource(resource, load_id=load_id, mode=mode)
        result = source.extract(window, f"{prefix}/extract", resource.pipeline.chunk_rows)
    except Exception as exc:
        _fail(load_id, "extract", exc)
        raise
    seconds = time.monotonic() - started
    files = {f"files_{k}": v for k, v in (result.files or {}).items()}
    with connections.transaction() as conn:
        load_run.update(conn, load_id, rows_extracted=result.rows, max_source_updated_at=result.max_incremental,
                        extract_seconds=seconds, values_normalised=result.normalised, **files)
    log.info("%s: extracted %d rows (%s) into %s", resource.code, result.rows, mode, prefix)
    return {
        "load_id": load_id, "mode": mode, "prefix": prefix, "parts": result.parts, "rows": result.rows,
        "missing_columns": result.missing_columns, "max_source_updated_at": _iso(result.max_incremental),
        "files": result.files,
        "as_of": _iso(run.data_interval_end or run.logical_date or dt.datetime.now(dt.timezone.utc)),
    }


def _fail(load_id: int, step: str, exc: BaseException, status: str = "failed", checks=None) -> None:
    """Record ``exc`` on the run (and its file deliveries). If even that fails (the warehouse is
    gone), log it and let the caller raise ``exc``: the original error is the one to see."""
    from baselib.sources.file_drop import manifest

    try:
        with connections.transaction() as conn:
            load_run.record_error(conn, load_id, step, exc, status=status, blocking_checks=checks)
            manifest.mark_failed(conn, load_id, f"load {load_id} {status}: {redaction.redact(str(exc))}")
    except Exception as unrecorded:  # noqa: BLE001 - logged; the caller raises the original
        log.error("load %d: could not record its %s (%s) in ops.load_run: %s", load_id, status,
                  redaction.describe(exc), redaction.describe(unrecorded))


def duplicate_keys(resource: Resource, parts: list[str]) -> list[str]:
    """Keys that occur more than once anywhere in the extract (parts are validated one by one)."""
    from baselib.validation.runner import key_strings

    keys = resource.pipeline.key_columns
    tables = [storage.read_part(uri, keys) for uri in parts]
    table = pa.concat_tables(tables) if tables else pa.table({k: [] for k in keys})
    if any(k not in table.column_names for k in keys):
        return []
    counts = pc.value_counts(pa.array(key_strings(table.to_pandas(), keys)))  # hash-based; group_by is ~7x slower
    return counts.filter(pc.greater(counts.field("counts"), 1)).field("values").to_pylist()


def table_checks(resource: Resource, mode: str, rows: int, quarantined: int, live_rows: int,
                 absent: int = 0) -> list[tuple[str, str]]:
    """Engine-level table checks that need the whole extract or the warehouse's state.

    ``absent``: the live keys a reconcile would flag deleted. More than ``max_deleted_share`` of
    the live rows blocks the run, so a snapshot cut short (paging that ended early, a partial
    refresh at the source) deletes nothing.

    None for file drops: a delivery is a set of changes, so neither an empty nor a small one
    means loss, and the quarantine threshold applies to each delivery (validation.delivery_quality)."""
    if resource.delivery_based:
        return []
    failed = []
    full = mode in ("full", "reconcile")
    if full and rows == 0:
        failed.append(("empty_extract", "the full extract returned no rows"))
    drop = resource.pipeline.max_row_count_drop
    if full and live_rows and rows < (1 - drop) * live_rows:
        failed.append(("row_count_collapse",
                       f"the full extract has {rows} rows but {live_rows} are live: more than {drop:.0%} would vanish"))
    limit = resource.pipeline.max_deleted_share
    if mode == "reconcile" and live_rows and absent > limit * live_rows:
        share = absent / live_rows
        failed.append(("max_deleted_share",
                       f"对账将把 {live_rows} 条现存记录中的 {absent} 条（{share:.1%}）标记为删除，超过上限 {limit:.1%}，"
                       f"未删除、未加载任何记录 / the reconcile would flag {absent} of {live_rows} live rows ({share:.1%}) "
                       f"deleted, more than max_deleted_share {limit:.1%}: nothing was deleted or loaded"))
    if rows and quarantined / rows > resource.pipeline.quarantine_threshold:
        failed.append(("quarantine_threshold",
                       f"{quarantined} of {rows} rows ({quarantined / rows:.1%}) failed critical checks; "
                       f"the threshold is {resource.pipeline.quarantine_threshold:.1%}"))
    return failed


def _add_counts(counts: dict[int, int], delivery_ids) -> None:
    for delivery_id, n in delivery_ids.dropna().value_counts().items():
        counts[int(delivery_id)] = counts.get(int(delivery_id), 0) + int(n)


def _live_rows(conn, resource: Resource) -> int:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE _deleted_at IS NULL").format(
            sqlfiles.ident(resource.pipeline.target.qualified)))
        return cur.fetchone()[0]


@_step
def validate(resource: Resource, extracted: dict) -> dict:
    """Run the suite part by part; quarantine rejected rows; block on table-level failures."""
    from baselib.validation.runner import SuiteRunner

    started = time.monotonic()
    load_id = extracted["load_id"]
    report_dir = REPORTS_DIR / resource.dag_id
    try:
        parameters = {"as_of": extracted["as_of"], "duplicate_keys": duplicate_keys(resource, extracted["parts"])}
        checks = resource.pipeline.cross_checks
        matched: dict[str, set[str]] = {}
        reference_exists: dict[str, bool] = {}
        with connections.transaction() as conn:
            context = context_checks.prepare(conn, resource, extracted["parts"])
            if checks:
                for check in checks:
                    values, reference_exists[check.name] = cross_checks.reference_matches(
                        conn, check, cross_checks.candidates(check, extracted["parts"]))
                    matched[check.name] = set(values)
                    parameters[cross_checks.parameter_name(check)] = values
        tallies = {check.name: cross_checks.Tally() for check in checks}
        runner = SuiteRunner(resource, report_dir, parameters)
        valid_writer = storage.PartWriter(f"{extracted['prefix']}/valid")
        rejected_writer = storage.PartWriter(f"{extracted['prefix']}/rejected")
        blocking, warnings, quarantined, warned = list(context.blocking), [], 0, 0
        by_delivery: dict[int, int] = {}     # file drops: rows quarantined per delivery
        rows_by_delivery: dict[int, int] = {}  # file drops: rows per delivery
        for n, uri in enumerate(extracted["parts"]):
            frame = context.enrich(storage.read_part(uri).to_pandas())
            outcome = runner.validate(frame, run_name=f"load-{load_id}-part-{n:05d}")
            if resource.delivery_based:
                _add_counts(rows_by_delivery, frame[DELIVERY_ID])
                _add_counts(by_delivery, outcome.rejected["delivery_id"])
            blocking += [c for c in outcome.blocking if c not in blocking]
            warnings += outcome.warnings
            quarantined += len(outcome.rejected)
            warned += outcome.warned_rows
            for check in checks:
                tallies[check.name].add(outcome.valid, check, matched[check.name])
            valid_writer.write(pa.Table.from_pandas(outcome.valid, preserve_index=False))
            if len(outcome.rejected):
                rejected_writer.write(pa.Table.from_pandas(outcome.rejected, preserve_index=False))
        valid_parts, sent_back = valid_writer.parts, {}
        if resource.delivery_based:
            held = delivery_quality.hold_back(resource, extracted["prefix"], valid_parts, rows_by_delivery,
                                              by_delivery, rejected_writer)
            valid_parts = held.valid_parts
            quarantined += sum(held.rows.values())
            for delivery_id, count in held.rows.items():
                by_delivery[delivery_id] = by_delivery.get(delivery_id, 0) + count
        runner.build_report()
        with connections.transaction() as conn:
            quarantine.record(conn, resource.code, load_id, rejected_writer.parts)
            live = _live_rows(conn, resource)
            absent = (count_absent(conn, resource, extracted["parts"], load_run.get(conn, load_id)["started_at"])
                      if extracted["mode"] == "reconcile" else 0)
            if resource.delivery_based:
                sent_back = delivery_quality.record_rejections(conn, resource, load_id, held, by_delivery)
                files = extracted.get("files") or {}
                if sent_back and files:  # readable, but sent back: they count as rejected files
                    load_run.update(conn, load_id, files_new=files["new"] - len(sent_back),
                                    files_rejected=files["rejected"] + len(sent_back))
        if sent_back:
            delivery_quality.move_files(resource, load_id, sent_back)
        blocking += table_checks(resource, extracted["mode"], extracted["rows"], quarantined, live, absent)
        seconds = time.monotonic() - started
        with connections.transaction() as conn:
            load_run.update(conn, load_id, rows_quarantined=quarantined, rows_warned=warned,
                            validate_seconds=seconds, report_path=str(runner.report_index),
                            status="blocked" if blocking else "validated", error=None,
                            cross_checks={name: t.as_record(reference_exists[name]) for name, t in tallies.items()})
    except Exception as exc:
        _fail(load_id, "validate", exc)
        raise
    if blocking:
        failure = BlockingQualityFailure(resource.code, blocking)
        _fail(load_id, "validate", failure, status="blocked", checks=[{"check": n, "message": m} for n, m in blocking])
        raise failure
    for line in warnings:
        log.warning("%s: %s", resource.code, line)
    return {**extracted, "valid_parts": valid_parts, "rejected_parts": rejected_writer.parts,
            "rows_quarantined": quarantined, "rows_warned": warned, "warnings": warnings,
            "quarantined_by_delivery": {str(k): v for k, v in by_delivery.items()},
            "report": str(runner.report_index)}


@_step
def load(resource: Resource, validated: dict) -> dict:
    """One transaction, one at a time per resource (the merge's load lock): stage, merge with
    history, reconcile deletions, advance the watermark."""
    from baselib.sources.file_drop import manifest

    started = time.monotonic()
    load_id = validated["load_id"]
    reconcile = validated["mode"] == "reconcile"
    try:
        with connections.transaction() as conn:
            counts = merge(conn, resource, load_id, validated["valid_parts"],
                           reconcile_key_parts=validated["parts"] if reconcile else None,
                           extract_started=load_run.get(conn, load_id)["started_at"])
            newest = _parse(validated["max_source_updated_at"])
            inc = resource.pipeline.source.incremental_column
            if newest is not None and inc:
                load_run.advance_watermark(conn, resource.code, inc, newest, load_id)
            if resource.delivery_based:
                quarantined = {int(k): v for k, v in validated.get("quarantined_by_delivery", {}).items()}
                manifest.mark_loaded(conn, load_id, counts.by_delivery, quarantined)
            load_run.update(conn, load_id, status="loaded", rows_inserted=counts.inserted,
                            rows_updated=counts.updated, rows_unchanged=counts.unchanged,
                            rows_deleted=counts.deleted, load_seconds=time.monotonic() - started, error=None)
    except Exception as exc:
        _fail(load_id, "load", exc)
        raise
    return {**validated, "rows_inserted": counts.inserted, "rows_updated": counts.updated,
            "rows_unchanged": counts.unchanged, "rows_deleted": counts.deleted}


@_step
def record(resource: Resource, loaded: dict) -> dict:
    """Close the run record, write sync metrics, and drop the run's staging files."""
    load_id = loaded["load_id"]
    with connections.transaction() as conn:
        if resource.delivery_based:  # the provider's latest loaded delivery, even when this run found none
            from baselib.sources.file_drop import manifest

            newest = manifest.latest_delivery(conn, resource.code)
        else:
            newest = _parse(loaded["max_source_updated_at"]) or load_run.last_watermark(conn, resource.code)
        load_run.update(conn, load_id, status="success", error=None, finished_at=dt.datetime.now(dt.timezone.utc))
        sync_metrics.record(conn, load_id, resource.update_cycle, newest)
        summary = load_run.get(conn, load_id)
    storage.remove(loaded["prefix"])
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in summary.items()
            if k.startswith("rows_") or k in ("load_id", "status", "mode", "report_path")}


def run(resource: Resource, run_info: RunInfo) -> dict:
    """All four steps in-process (tests, benchmark). Airflow runs them as separate tasks."""
    return record(resource, load(resource, validate(resource, extract(resource, run_info))))
