"""The daily DAG ``staging_housekeeping``: staging files nobody will read again are removed.

One task, ``sweep_staging``: the shared DDL, then :func:`baselib.records.housekeeping.sweep` over
``BASELIB_STAGING_URL`` (``file://`` or ``s3://``). It removes the staging folders
(``<BASELIB_STAGING_URL>/<dag_id>/load-<id>``) of runs that failed or were blocked longer than
``BASELIB_STAGING_RETENTION_DAYS`` (default 7) days ago, of runs abandoned by a task that died
without recording its failure (still running/validated/loaded, idle for longer than the retention
and than 2 days), leftovers of successful runs, and orphan ``load-<id>`` folders with no run whose
newest file is older than the retention. A run that failed less than an hour ago keeps its folder
whatever the retention (its automatic retry reads it). Each removal is recorded in
``ops.staging_removal`` and ``ops.load_run.staging_removed_at``; the task log lists every folder
removed or kept and a summary line (folders, files, bytes). A folder that cannot be deleted is
logged and skipped; the others are still removed, then the task fails naming it
(:class:`baselib.records.housekeeping.SweepIncomplete`), so the failure alert goes out. Returns the
summary dict of :meth:`baselib.records.housekeeping.Sweep.as_dict`.

Params: ``dry_run`` (default false: log what would go, remove nothing), ``retention_days``
(default null: ``BASELIB_STAGING_RETENTION_DAYS``).

Runs at 03:00 Asia/Shanghai, when no load is usually running; catchup off, one run at a time.
Module level imports only the Task SDK; the engine loads inside the task.
"""
from __future__ import annotations

import logging

from airflow.sdk import Param, dag, task

from baselib.orchestration.schedules import platform_dag_args

DAG_ID = "staging_housekeeping"
DESCRIPTION = ("Staging housekeeping: removes the staging files of failed, blocked or abandoned runs and orphan "
               "folders older than BASELIB_STAGING_RETENTION_DAYS")
SCHEDULE = "0 3 * * *"  # 03:00 every day, Asia/Shanghai

log = logging.getLogger(__name__)


def sweep_staging(dry_run: bool = False, retention_days: float | None = None) -> dict:
    """Task body of ``sweep_staging``: :func:`baselib.records.housekeeping.sweep_warehouse` with the
    removed URIs cut to 100 (the XCom stays small; the log lists every folder). Raises
    :class:`baselib.records.housekeeping.SweepIncomplete` (the task fails) when some folders could
    not be removed, after removing the others."""
    from baselib.records import housekeeping

    summary = housekeeping.sweep_warehouse(dry_run=dry_run, retention_days=retention_days)
    summary["removed"] = summary["removed"][:100]
    return summary


def build_dag():
    """The ``staging_housekeeping`` DAG (see the module docstring)."""

    @dag(**platform_dag_args(DAG_ID, doc_md=__doc__, cron=SCHEDULE, concern="housekeeping", description=DESCRIPTION),
         params={"dry_run": Param(False, type="boolean", description="log what would be removed, remove nothing"),
                 "retention_days": Param(None, type=["null", "number"], minimum=0,
                                         description="days (default: BASELIB_STAGING_RETENTION_DAYS, else 7)")})
    def staging_housekeeping():
        @task(task_id="sweep_staging")
        def sweep_staging_task(**context) -> dict:
            params = context["params"]
            return sweep_staging(dry_run=bool(params.get("dry_run")), retention_days=params.get("retention_days"))

        sweep_staging_task()

    return staging_housekeeping()
