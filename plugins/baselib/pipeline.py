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
import json
import logging
import time
from dataclasses import dataclass

from baselib import sources, storage
from baselib.catalog.model import Resource
from baselib.catalog.publish import publish
from baselib.errors import BlockingQualityFailure, CatalogError
from baselib.loading.merge import merge
from baselib.records import load_run, progress, sync_metrics
from baselib.security import redaction
from baselib.settings import REPORTS_DIR
from baselib.sources.window import ExtractWindow
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


def resolve_theme_window(conn, resource: Resource, run: RunInfo, as_of: dt.datetime) -> tuple[str, ExtractWindow]:
    """A theme's mode (:func:`baselib.themes.refresh.resolve_mode`: ``full`` on its first run or
    when asked, ``reconcile`` when asked or when its model's fingerprint changed, ``incremental``
    otherwise) and its window: no lower bound, ``as_of`` as the upper (the model's ``as_of``).
    Every mode but ``incremental`` recomputes every key and flags every vanished key deleted
    (:mod:`baselib.themes.scope`)."""
    from baselib.themes import model as theme_model
    from baselib.themes import refresh

    if run.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {run.mode!r}")
    with conn.cursor() as cur:
        mode = refresh.resolve_mode(cur, resource, run.mode, theme_model.fingerprint(resource))
    return mode, ExtractWindow(None, as_of)


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
    """Prepare the warehouse, open the run record, and stream the source into Parquet parts; record
    on the run what was delivered (``ops.load_run.items_delivered``: ``{catalog item: non-null values
    read}``, from the parts' row-group statistics, :func:`baselib.storage.non_null_counts`; engine
    columns such as ``_source_ref`` are not items and are not counted)."""
    started = time.monotonic()
    as_of = run.data_interval_end or run.logical_date or dt.datetime.now(dt.timezone.utc)
    with connections.transaction() as conn:
        schema.ensure(conn, [resource])
        publish(conn, resource)
        if resource.is_theme:
            mode, window = resolve_theme_window(conn, resource, run, as_of)
        else:
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
        # what the provider delivered: per catalog item, the rows read holding a value (parts' footers only)
        delivered = storage.non_null_counts(result.parts, [item.name for item in resource.items])
    except Exception as exc:
        _fail(load_id, "extract", exc)
        _quality(resource, load_id)  # a source that could not be read: an accessible failure
        raise
    seconds = time.monotonic() - started
    files = {f"files_{k}": v for k, v in (result.files or {}).items()}
    with connections.transaction() as conn:
        load_run.update(conn, load_id, rows_extracted=result.rows, max_source_updated_at=result.max_incremental,
                        extract_seconds=seconds, values_normalised=result.normalised, **files)
        with conn.cursor() as cur:
            cur.execute(sqlfiles.text("queries/load_run_items_delivered"),
                        {"load_id": load_id, "items_delivered": json.dumps(delivered, ensure_ascii=False)})
    log.info("%s: extract done: %d part(s), %d rows in %.1f s (%.0f rows/s), %s, into %s", resource.code,
             len(result.parts), result.rows, seconds, progress.rate(result.rows, seconds), mode, prefix)
    return {
        "load_id": load_id, "mode": mode, "prefix": prefix, "parts": result.parts, "rows": result.rows,
        "missing_columns": result.missing_columns, "max_source_updated_at": _iso(result.max_incremental),
        "files": result.files, "as_of": _iso(as_of),
        # themes: what the load records as consumed (baselib.sources.sql_model.ModelExtractResult)
        "theme": getattr(result, "theme", None),
    }


def _quality(resource: Resource, load_id: int, *, trend: bool = True) -> None:
    """Score the load (:func:`baselib.quality.scoring.score_load`), put the scores into its report
    page, and regenerate the resource's trend page (:mod:`baselib.quality.trend`). A failure here is
    logged, never raised: it must not hide the run's own outcome or error."""
    from pathlib import Path

    from baselib.quality import scoring
    from baselib.quality import trend as trend_page
    from baselib.validation import report

    try:
        with connections.transaction() as conn:
            scores = scoring.score_load(conn, load_id, resource)
            report_path = load_run.get(conn, load_id)["report_path"]
            if report_path and Path(report_path).with_name(report.JSON_NAME).is_file():
                report.add_scores(Path(report_path).parent, scores, trend_href="../" + trend_page.PAGE)
            page = trend_page.write(conn, resource, REPORTS_DIR) if trend else None
        overall = scores["overall"]
        log.info("%s: load %d quality %s (%s); report: %s%s", resource.code, load_id,
                 "—" if overall["score"] is None else f"{overall['score']:.4f}", overall["grade"] or "not judged",
                 report_path or "none", f"; trend: {page}" if page else "")
    except Exception as exc:  # noqa: BLE001 - logged: scoring must never hide the run's own outcome
        log.error("load %d: could not score it or write its quality pages: %s", load_id, redaction.describe(exc))


def _resume(load_id: int) -> None:
    """A retry of validate or load: the run goes from ``failed`` back to ``running``
    (``queries/load_run_resume``), so staging housekeeping keeps its parts while the retry reads them."""
    with connections.transaction() as conn, conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/load_run_resume"), {"load_id": load_id})


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


@_step
def validate(resource: Resource, extracted: dict) -> dict:
    """Compile the resource's validation plan, run it over the extract's parts, record the result
    and the quality report, and raise BlockingQualityFailure on a blocking failure (its message
    ends ``(quality report: <path>)``, the path also in its ``report_path`` attribute).

    The plan and its executor are :mod:`baselib.validation.plan` and
    :mod:`baselib.validation.executor` (which also says which rows an incremental or reconcile
    run leaves unchecked as unchanged); the report, :mod:`baselib.validation.report`."""
    from baselib.validation import executor, plan, report

    started = time.monotonic()
    load_id = extracted["load_id"]
    try:
        _resume(load_id)
        checks = plan.compile(resource)
        result = executor.execute(checks, resource, extracted)
        with connections.transaction() as conn:
            page = report.write(checks, result, resource, REPORTS_DIR / resource.dag_id / f"load-{load_id}",
                                load_id=load_id, run_id=load_run.get(conn, load_id)["run_id"], mode=extracted["mode"])
            load_run.update(conn, load_id, rows_quarantined=result.rows_quarantined, rows_warned=result.rows_warned,
                            validate_seconds=time.monotonic() - started, report_path=str(page),
                            status="blocked" if result.blocking else "validated", error=None,
                            cross_checks=result.cross_checks)
    except Exception as exc:
        _fail(load_id, "validate", exc)
        raise
    if result.blocking:
        failure = BlockingQualityFailure(resource.code, result.blocking)
        # the message (task log, ops.load_run.error, alerts) says where the quality report is
        failure.report_path = str(page)
        failure.args = (f"{failure.args[0]} (quality report: {page})",)
        _fail(load_id, "validate", failure, status="blocked",
              checks=[{"check": n, "message": m} for n, m in result.blocking])
        _quality(resource, load_id)  # a blocked run is scored, its validate-time page kept as the report
        raise failure
    _quality(resource, load_id, trend=False)  # record re-scores (timely) and writes the trend page
    for line in result.warnings:
        log.warning("%s: %s", resource.code, line)
    return {**extracted, "valid_parts": result.valid_parts, "rejected_parts": result.rejected_parts,
            "rows_quarantined": result.rows_quarantined, "rows_warned": result.rows_warned,
            "rows_skipped_unchanged": result.rows_skipped_unchanged, "unchanged_parts": result.unchanged_parts,
            "committed_loads": result.committed_loads, "warnings": result.warnings,
            "quarantined_by_delivery": {str(k): v for k, v in result.quarantined_by_delivery.items()},
            "report": str(page)}


@_step
def load(resource: Resource, validated: dict) -> dict:
    """One transaction, one at a time per resource (the merge's load lock): load the valid parts
    into the SCD2 table, reconcile deletions (:mod:`baselib.themes.scope`: a reconcile, a theme's
    refresh, within its scope when incremental), advance the watermark or record the theme's
    refresh (:func:`baselib.themes.refresh.record`). Rows validation set aside as unchanged
    (``rows_skipped_unchanged``, default 0) count as unchanged, unless another load committed
    since validation probed them: then the merge classifies their parts (``unchanged_parts``)
    again (:func:`baselib.loading.merge.merge`)."""
    from baselib.sources.file_drop import manifest
    from baselib.themes import refresh, scope

    started = time.monotonic()
    load_id = validated["load_id"]
    reconcile = scope.deletions(resource, validated["mode"]) is not None
    try:
        _resume(load_id)
        with connections.transaction() as conn:
            counts = merge(conn, resource, load_id, validated["valid_parts"],
                           reconcile_key_parts=validated["parts"] if reconcile else None,
                           extract_started=load_run.get(conn, load_id)["started_at"],
                           unchanged_parts=validated.get("unchanged_parts"),
                           committed_at_validation=validated.get("committed_loads"),
                           reconcile_scope_parts=scope.scope_parts(validated))
            if resource.is_theme:  # the input loads it consumed, its as-of and fingerprint
                refresh.record(conn, resource, load_id, validated["mode"], validated["theme"])
            newest = _parse(validated["max_source_updated_at"])
            inc = resource.pipeline.source.incremental_column
            if newest is not None and inc:
                load_run.advance_watermark(conn, resource.code, inc, newest, load_id)
            if resource.delivery_based:
                quarantined = {int(k): v for k, v in validated.get("quarantined_by_delivery", {}).items()}
                manifest.mark_loaded(conn, load_id, counts.by_delivery, quarantined)
            if not counts.reclassified:  # else the merge classified (and counted) them itself
                counts.unchanged += int(validated.get("rows_skipped_unchanged") or 0)
            load_run.update(conn, load_id, status="loaded", rows_inserted=counts.inserted,
                            rows_updated=counts.updated, rows_unchanged=counts.unchanged,
                            rows_deleted=counts.deleted, load_seconds=time.monotonic() - started, error=None)
    except Exception as exc:
        _fail(load_id, "load", exc)
        raise
    log.info("%s: load done in %.1f s: COPY %d rows in %.1f s (%.0f rows/s), merge %.1f s: %d inserted, %d updated, "
             "%d unchanged, %d deleted", resource.code, time.monotonic() - started, counts.staged, counts.copy_seconds,
             progress.rate(counts.staged, counts.copy_seconds), counts.merge_seconds, counts.inserted, counts.updated,
             counts.unchanged, counts.deleted)
    return {**validated, "rows_inserted": counts.inserted, "rows_updated": counts.updated,
            "rows_unchanged": counts.unchanged, "rows_deleted": counts.deleted}


@_step
def record(resource: Resource, loaded: dict) -> dict:
    """Close the run record, write sync metrics, and drop the run's staging files; then score the
    load, re-render its report page with the scores and regenerate the resource's trend page."""
    load_id = loaded["load_id"]
    with connections.transaction() as conn:
        if resource.delivery_based:  # the provider's latest loaded delivery, even when this run found none
            from baselib.sources.file_drop import manifest

            newest = manifest.latest_delivery(conn, resource.code)  # sync_metrics keeps those by judged_at
        else:
            # what this run saw; sync_metrics adds what earlier loads saw, all kept by judged_at
            newest = _parse(loaded["max_source_updated_at"])
        load_run.update(conn, load_id, status="success", error=None, finished_at=dt.datetime.now(dt.timezone.utc))
        sync_metrics.record(conn, load_id, resource.update_cycle, newest, delivery_based=resource.delivery_based)
        summary = load_run.get(conn, load_id)
    storage.remove(loaded["prefix"])
    log.info("%s: record done: load %d %s, %s rows extracted, %s inserted, %s updated, %s unchanged, %s quarantined; "
             "staging %s removed", resource.code, load_id, summary["status"], summary["rows_extracted"],
             summary["rows_inserted"], summary["rows_updated"], summary["rows_unchanged"], summary["rows_quarantined"],
             loaded["prefix"])
    _quality(resource, load_id)  # timely and accessible complete: scores, report page, trend page
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in summary.items()
            if k.startswith("rows_") or k in ("load_id", "status", "mode", "report_path")}


def run(resource: Resource, run_info: RunInfo) -> dict:
    """All four steps in-process (tests, benchmark). Airflow runs them as separate tasks."""
    return record(resource, load(resource, validate(resource, extract(resource, run_info))))
