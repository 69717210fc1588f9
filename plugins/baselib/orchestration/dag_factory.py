"""One DAG per catalog entry: extract → validate → load → record.

A base-library or department resource runs on the cron of its 更新周期 (or ``pipeline.schedule``).
A theme resource (``source.kind: sql_model``) runs when its inputs' Assets are updated
(:mod:`baselib.orchestration.assets`: ``AssetAny`` over the inputs, a guard in extract that skips
the run while an input has never loaded, ``max_active_runs=1`` so input bursts coalesce).
Every task tells the OpenLineage provider its datasets (:mod:`baselib.orchestration.lineage`).
A task that fails for good alerts the platform team (``task_failed`` or ``load_blocked``), and a
cron DAG's run that has not succeeded a grace after its data interval ENDED
raises ``provider_overdue`` (a DeadlineAlert): :mod:`baselib.orchestration.alerts`.

A broken entry (bad YAML, a schema error, a code or target another file already uses, a
missing or malformed suite) does not stop the others: it becomes a placeholder DAG
``catalog_error__<file stem>``, tagged ``catalog-error``, whose description names the file, the
field and the message, and whose one task fails with that message.

Module level imports only the Task SDK and the catalog model (pydantic + YAML), so parsing
stays fast; the engine's heavy parts (pyarrow, pandas, Great Expectations) load inside tasks.
"""
from __future__ import annotations

import datetime as dt
import re

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from baselib.catalog import EntryError, Resource, scan_catalog
from baselib.orchestration import alerts
from baselib.orchestration.assets import WAREHOUSE_ASSET_PREFIX, table_asset, theme_schedule
from baselib.orchestration.lineage import pipeline_task
from baselib.orchestration.schedules import TIMEZONE, cron_for, start_date

__all__ = ["WAREHOUSE_ASSET_PREFIX", "build_all", "build_dag", "table_asset"]
THEME_TAG = "theme-library"
RETRY_BACKOFF = 2.0
REFERENCE_WAIT_ENV = "BASELIB_REFERENCE_WAIT_MINUTES"
REFERENCE_WAIT_DEFAULT = dt.timedelta(minutes=60)
REFERENCE_POLL = dt.timedelta(minutes=1)
BASE_TAG = "base-library"


def _run_info(context, dag_id: str):
    from baselib.pipeline import RunInfo

    dag_run = context["dag_run"]
    return RunInfo(
        dag_id=dag_id,
        run_id=dag_run.run_id,
        # an asset-triggered run (a theme's) has no logical date: its run_after (when the scheduler
        # made it) stands in, so every task and retry of the run computes the model as of one instant
        logical_date=context.get("logical_date") or getattr(dag_run, "run_after", None),
        data_interval_start=context.get("data_interval_start"),
        data_interval_end=context.get("data_interval_end"),
        mode=context["params"].get("mode", "auto"),
    )


def _resource(code: str) -> Resource:
    from baselib.catalog.loader import find

    return find(code)


def _mode_param(resource: Resource) -> Param:
    if resource.is_theme:
        return Param("auto", enum=["auto", "full", "reconcile"],
                     description="auto: full on the first run, then only the refresh keys the inputs' loads "
                                 "touched; full: recompute every key; reconcile: full, and close keys the "
                                 "model no longer returns")
    if resource.delivery_based:
        return Param("auto", enum=["auto", "full"],
                     description="auto: process the files not loaded before; "
                                 "full: reprocess every file in the landing folder (unchanged rows change nothing)")
    return Param("auto", enum=["auto", "full", "incremental", "reconcile"],
                 description="auto: full on the first run, then incremental; "
                             "reconcile: full extract that also closes keys deleted at the source")


def _schedule(resource: Resource):
    if resource.is_theme:
        return theme_schedule(resource)
    cron = cron_for(resource)
    return CronDataIntervalTimetable(cron, timezone=TIMEZONE) if cron else None


def _skip_unless_inputs_loaded(resource: Resource) -> None:
    """The theme guard: skip (not fail) the run while an input has never loaded (the reason logged
    at WARNING); fail it (AirflowFailException naming the input) when an input's catalog entry is
    broken, since that input will never load."""
    import logging

    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from baselib.errors import CatalogError
    from baselib.orchestration.assets import unloaded_inputs

    try:
        missing = unloaded_inputs(resource)
    except CatalogError as exc:
        raise AirflowFailException(str(exc)) from None
    if missing:
        reason = (f"{resource.pipeline.target.qualified} waits for inputs that have never loaded: "
                  f"{', '.join(missing)}; skipping this run")
        logging.getLogger(__name__).warning("%s", reason)
        raise AirflowSkipException(reason)


def reference_wait(environ=None) -> dt.timedelta:
    """How long an extract task waits in place for its references: ``BASELIB_REFERENCE_WAIT_MINUTES``
    (a number >= 0; ``environ`` default ``os.environ``), default 60 minutes. Raises ValueError
    naming the variable for a value that is no number >= 0."""
    import os

    raw = ((os.environ if environ is None else environ).get(REFERENCE_WAIT_ENV) or "").strip()
    if not raw:
        return REFERENCE_WAIT_DEFAULT
    try:
        minutes = float(raw)
    except ValueError:
        minutes = -1
    if not minutes >= 0:
        raise ValueError(f"{REFERENCE_WAIT_ENV} must be a number of minutes >= 0, not {raw!r}")
    return dt.timedelta(minutes=minutes)


def _wait_for_references(resource: Resource, *, wait: dt.timedelta | None = None,
                         poll: dt.timedelta = REFERENCE_POLL, sleep=None) -> None:
    """Wait (no run opened) while a critical check's reference table has no committed load yet: on
    a freshly deployed platform every DAG starts at once, and the place names must not be blocked
    because the division boundaries they are checked against are still on their first load.

    Checks :func:`baselib.orchestration.assets.missing_references` every ``poll`` (logging at INFO
    what it waits for) for up to ``wait`` (default :func:`reference_wait`, 60 min) — independent of
    the source's retry budget — and returns once every reference has loaded. After ``wait`` it raises
    :class:`baselib.errors.ReferenceNotLoaded`, and Airflow's retries (exponential back-off) follow.
    Raises :class:`baselib.errors.CatalogError` when a reference's catalog entry is broken (it would
    never load). ``sleep``: seconds → None, default :func:`time.sleep`."""
    import logging
    import time

    from baselib.errors import ReferenceNotLoaded
    from baselib.orchestration.assets import missing_references

    wait = reference_wait() if wait is None else wait
    sleep = time.sleep if sleep is None else sleep
    log = logging.getLogger(__name__)
    started = time.monotonic()
    while missing := missing_references(resource):
        waited = dt.timedelta(seconds=time.monotonic() - started)
        if waited >= wait:
            raise ReferenceNotLoaded(
                f"{resource.pipeline.target.qualified} ({resource.code}) is checked against {', '.join(missing)}, "
                f"which has not loaded after {int(waited.total_seconds() // 60)} min of waiting; this task retries "
                f"(retries: {resource.pipeline.retries}, exponential back-off) and the run goes on once it has")
        log.info("%s waits for its reference(s) %s to load (waited %d s of %d s; next check in %d s)",
                 resource.code, ", ".join(missing), waited.total_seconds(), wait.total_seconds(),
                 poll.total_seconds())
        sleep(min(poll, wait - waited).total_seconds())


def _theme_doc(resource: Resource) -> str:
    tables = ", ".join(f"`{i.table}`" for i in resource.pipeline.source.inputs)
    return (f"\n\nRuns when any of its inputs is loaded (AssetAny over {tables}); skipped while one of them "
            f"has never loaded; one run at a time, later input events wait and are consumed together.")


def build_dag(resource: Resource):
    """The DAG of one catalog entry (see the module docstring)."""
    code, dag_id = resource.code, resource.dag_id
    settings = resource.pipeline
    theme = resource.is_theme

    @dag(
        dag_id=dag_id,
        description=f"{resource.name} ({code}) from {resource.provider.name}",
        doc_md=f"**{resource.name}** `{code}` — {resource.summary}\n\nTarget: `{settings.target.qualified}`"
               + (_theme_doc(resource) if theme else ""),
        schedule=_schedule(resource),
        start_date=start_date(resource),
        catchup=False,
        max_active_runs=1,
        tags=[THEME_TAG if theme else BASE_TAG, settings.target.schema_name, resource.provider.name],
        params={"mode": _mode_param(resource)},
        deadline=alerts.deadline_alert(resource),  # provider overdue: none for themes and cycle "other"
        default_args={
            "owner": "data-platform",
            "on_failure_callback": alerts.on_failure(resource),
            "retries": settings.retries,
            "retry_delay": dt.timedelta(seconds=30),
            # a multiplier in Airflow 3.3 (True == 1.0: no back-off): 30 s, 60 s, 120 s … up to 30 min
            "retry_exponential_backoff": RETRY_BACKOFF,
            "max_retry_delay": dt.timedelta(minutes=30),
        },
    )
    def resource_pipeline():
        @pipeline_task(task_id="extract", resource_code=code)
        def extract_task(**context) -> dict:
            from airflow.sdk.exceptions import AirflowFailException

            from baselib import pipeline
            from baselib.errors import CatalogError, SchemaMismatch

            try:
                current = _resource(code)
                if theme:
                    _skip_unless_inputs_loaded(current)
                else:
                    _wait_for_references(current)
                return pipeline.extract(current, _run_info(context, dag_id))
            except (CatalogError, SchemaMismatch) as exc:  # configuration problems: retrying will not help
                raise AirflowFailException(str(exc)) from None  # exc is already redacted; no chain to log

        @pipeline_task(task_id="validate", resource_code=code, retries=0)
        def validate_task(extracted: dict) -> dict:
            from airflow.sdk.exceptions import AirflowFailException

            from baselib import pipeline
            from baselib.errors import BlockingQualityFailure

            try:
                return pipeline.validate(_resource(code), extracted)
            except BlockingQualityFailure as exc:  # data problems: retrying will not help
                raise AirflowFailException(str(exc)) from None  # exc is already redacted; no chain to log

        @pipeline_task(task_id="load", resource_code=code, outlets=[table_asset(resource)], retries=1)
        def load_task(validated: dict) -> dict:
            from baselib import pipeline

            return pipeline.load(_resource(code), validated)

        @pipeline_task(task_id="record", resource_code=code)
        def record_task(loaded: dict) -> dict:
            from baselib import pipeline

            return pipeline.record(_resource(code), loaded)

        record_task(load_task(validate_task(extract_task())))

    return resource_pipeline()


PLACEHOLDER_PREFIX = "catalog_error__"
PLACEHOLDER_START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def placeholder_dag_id(error: EntryError) -> str:
    """``catalog_error__<file stem>``, with characters a DAG id cannot hold replaced by ``_``."""
    return PLACEHOLDER_PREFIX + re.sub(r"[^A-Za-z0-9_.-]", "_", error.path.stem)


def build_placeholder(error: EntryError, dag_id: str):
    """A DAG standing in for a broken entry: the message where a data engineer looks, and a daily
    run whose one task fails with it until the entry is fixed."""
    message = error.message

    @dag(
        dag_id=dag_id,
        description=f"Broken catalog entry: {message}",
        doc_md=(f"**Broken catalog entry** `{error.path}`: this resource has no pipeline until the entry "
                f"is fixed. The other catalog entries are not affected.\n\n```\n{message}\n```"),
        schedule="@daily",
        start_date=PLACEHOLDER_START,
        catchup=False,
        max_active_runs=1,
        tags=[BASE_TAG, "catalog-error"],
        default_args={"owner": "data-platform", "retries": 0,
                      "on_failure_callback": alerts.on_failure(catalog_file=str(error.path))},
    )
    def broken_entry():
        @task(task_id="catalog_error")
        def catalog_error() -> None:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(message)

        catalog_error()

    return broken_entry()


def build_all() -> dict[str, object]:
    """Every DAG of the catalog: one per entry that loads, one placeholder per broken entry.

    A theme's model SQL is parsed here (sqlglot, about 0.1 s to import, pure Python), so a model
    that reads an undeclared table or an unknown parameter is a placeholder DAG naming the file
    and the problem as soon as it is deployed, not a failed run the next morning."""
    catalog = scan_catalog()
    dags = {resource.dag_id: build_dag(resource) for resource in catalog.resources}
    for error in catalog.errors:
        dag_id = placeholder_dag_id(error)
        while dag_id in dags:  # two stems that differ only in characters a DAG id cannot hold
            dag_id += "_"
        dags[dag_id] = build_placeholder(error, dag_id)
    return dags
