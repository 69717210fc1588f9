"""One DAG per catalog entry: extract → validate → load → record.

Module level imports only the Task SDK and the catalog model (pydantic + YAML), so parsing
stays fast; the engine's heavy parts (pyarrow, pandas, Great Expectations) load inside tasks.
"""
from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task

from baselib.catalog import Resource, load_catalog
from baselib.orchestration.schedules import TIMEZONE, cron_for

WAREHOUSE_ASSET_PREFIX = "postgres://warehouse:5432/warehouse"


def table_asset(resource: Resource) -> Asset:
    """The Asset a load emits; theme DAGs schedule on it (``Asset.ref(name=...)`` or this URI)."""
    target = resource.pipeline.target
    return Asset(name=target.qualified, uri=f"{WAREHOUSE_ASSET_PREFIX}/{target.schema_name}/{target.table}")


def _run_info(context, dag_id: str):
    from baselib.pipeline import RunInfo

    dag_run = context["dag_run"]
    return RunInfo(
        dag_id=dag_id,
        run_id=dag_run.run_id,
        logical_date=context.get("logical_date"),
        data_interval_start=context.get("data_interval_start"),
        data_interval_end=context.get("data_interval_end"),
        mode=context["params"].get("mode", "auto"),
    )


def _resource(code: str) -> Resource:
    from baselib.catalog.loader import find

    return find(code)


def _mode_param(resource: Resource) -> Param:
    if resource.delivery_based:
        return Param("auto", enum=["auto", "full"],
                     description="auto: process the files not loaded before; "
                                 "full: reprocess every file in the landing folder (unchanged rows change nothing)")
    return Param("auto", enum=["auto", "full", "incremental", "reconcile"],
                 description="auto: full on the first run, then incremental; "
                             "reconcile: full extract that also closes keys deleted at the source")


def build_dag(resource: Resource):
    cron = cron_for(resource)
    schedule = CronDataIntervalTimetable(cron, timezone=TIMEZONE) if cron else None
    code, dag_id = resource.code, resource.dag_id
    settings = resource.pipeline

    @dag(
        dag_id=dag_id,
        description=f"{resource.name} ({code}) from {resource.provider.name}",
        doc_md=f"**{resource.name}** `{code}` — {resource.summary}\n\nTarget: `{settings.target.qualified}`",
        schedule=schedule,
        start_date=dt.datetime.combine(resource.publish_date, dt.time(), dt.timezone.utc),
        catchup=False,
        max_active_runs=1,
        tags=["base-library", settings.target.schema_name, resource.provider.name],
        params={"mode": _mode_param(resource)},
        default_args={
            "owner": "data-platform",
            "retries": settings.retries,
            "retry_delay": dt.timedelta(seconds=30),
            "retry_exponential_backoff": True,
            "max_retry_delay": dt.timedelta(minutes=30),
        },
    )
    def resource_pipeline():
        @task(task_id="extract")
        def extract_task(**context) -> dict:
            from airflow.sdk.exceptions import AirflowFailException

            from baselib import pipeline
            from baselib.errors import CatalogError, SchemaMismatch

            try:
                return pipeline.extract(_resource(code), _run_info(context, dag_id))
            except (CatalogError, SchemaMismatch) as exc:  # configuration problems: retrying will not help
                raise AirflowFailException(str(exc)) from exc

        @task(task_id="validate", retries=0)
        def validate_task(extracted: dict) -> dict:
            from airflow.sdk.exceptions import AirflowFailException

            from baselib import pipeline
            from baselib.errors import BlockingQualityFailure

            try:
                return pipeline.validate(_resource(code), extracted)
            except BlockingQualityFailure as exc:  # data problems: retrying will not help
                raise AirflowFailException(str(exc)) from exc

        @task(task_id="load", outlets=[table_asset(resource)], retries=1)
        def load_task(validated: dict) -> dict:
            from baselib import pipeline

            return pipeline.load(_resource(code), validated)

        @task(task_id="record")
        def record_task(loaded: dict) -> dict:
            from baselib import pipeline

            return pipeline.record(_resource(code), loaded)

        record_task(load_task(validate_task(extract_task())))

    return resource_pipeline()


def build_all() -> dict[str, object]:
    return {resource.dag_id: build_dag(resource) for resource in load_catalog()}
