"""The monthly DAG ``evaluation_publish``: the evaluation indicators of the periods that ended,
computed and published to the evaluation system (考核评价系统).

Runs on the 1st of each month at 02:00 Asia/Shanghai (``CronTriggerTimetable``: the logical date
is the run's own time). Tasks:

1. ``compute``: the month that ended before the run's logical date, plus the quarter and the year
   when the month closes one (a run on 1 January: December, Q4 and the year), each computed and
   stored in ``evaluation.indicator`` by :func:`baselib.evaluation.indicators.compute`, committed.
   Returns ``[{"kind", "label", "departments"}]``, one per period.
2. ``publish`` (mapped, one task instance per period): :func:`baselib.evaluation.publish.publish`
   over the connection ``evaluation_api``. The engine retries transient failures inside (the
   ``publish`` settings of include/evaluation/indicators.yaml); a key still refused or failed after
   that fails the task, which Airflow retries later (``retries``/``retry_delay`` below): publishing
   is idempotent, so a retry re-sends what failed and the system answers ``unchanged`` for the rest.
   Every attempt is in ``evaluation.publish_attempt``; ``evaluation publications --failed`` lists
   the keys whose latest publish did not succeed. Returns ``{"kind", "label", "published",
   "outcomes": {created/replaced/unchanged: n}}``.

A backfilled or cleared run computes and publishes the periods of ITS logical date, not today's.
Module level imports only the Task SDK; the engine loads inside the tasks.
"""
from __future__ import annotations

import datetime as dt
import logging

from airflow.sdk import dag, task

from baselib.orchestration.schedules import platform_dag_args

DAG_ID = "evaluation_publish"
DESCRIPTION = ("Evaluation indicators of the month (quarter, year) that ended, computed and published to the "
               "evaluation system")
SCHEDULE = "0 2 1 * *"   # 02:00 on the 1st of every month, Asia/Shanghai
TASK_RETRIES = 3
TASK_RETRY_DELAY = dt.timedelta(minutes=10)

log = logging.getLogger(__name__)


def periods_for(logical_date: dt.datetime) -> list:
    """The periods a run at ``logical_date`` (aware) computes and publishes: the month that ended
    before its local day, then the quarter and the year that month closes, if it closes one.
    Returns :class:`baselib.evaluation.periods.Period` objects, month first."""
    from baselib.evaluation import periods

    month = periods.containing("month", logical_date).previous()
    out = [month]
    for kind in ("quarter", "year"):
        enclosing = periods.containing(kind, month.start)
        if enclosing.end == month.end:
            out.append(enclosing)
    return out


def compute(logical_date: dt.datetime) -> list[dict]:
    """Task body of ``compute``: returns ``[{"kind", "label", "departments"}]``."""
    from baselib.evaluation import indicators
    from baselib.warehouse import connections, schema

    out = []
    conn = connections.connect("warehouse")
    try:
        schema.ensure(conn, [])
        for period in periods_for(logical_date):
            stored = indicators.compute(conn, period)
            conn.commit()
            count = len(stored) if hasattr(stored, "__len__") else None
            log.info("indicators of %s %s computed: %s department(s)", period.kind, period.label, count)
            out.append({"kind": period.kind, "label": period.label, "departments": count})
    finally:
        conn.close()
    return out


def publish(period: dict, run_id: str) -> dict:
    """Task body of ``publish`` for one ``{"kind", "label"}``: returns ``{"kind", "label",
    "published", "outcomes"}``; raises :class:`baselib.evaluation.publish.PublishError` naming the
    keys refused or failed (everything recorded first)."""
    from baselib.evaluation import periods
    from baselib.evaluation import publish as publishing

    results = publishing.publish(periods.parse(period["kind"], period["label"]), run_id=run_id)
    if not results:
        log.warning("%s %s: no indicators stored (compute stored %s department(s)): nothing published",
                    period["kind"], period["label"], period.get("departments"))
    outcomes: dict[str, int] = {}
    for r in results:
        outcomes[r["outcome"] or "?"] = outcomes.get(r["outcome"] or "?", 0) + 1
    log.info("%s %s: %d indicator set(s) published %s", period["kind"], period["label"], len(results), outcomes)
    return {"kind": period["kind"], "label": period["label"], "published": len(results), "outcomes": outcomes}


def _logical_date(context) -> dt.datetime:
    """The run's logical date; a manual run without one: its run_after (when it was triggered)."""
    return context.get("logical_date") or context["dag_run"].run_after


def build_dag():
    """The ``evaluation_publish`` DAG (see the module docstring)."""

    @dag(**platform_dag_args(
        DAG_ID, doc_md=__doc__, cron=SCHEDULE, concern="evaluation",
        retries=TASK_RETRIES, retry_delay_minutes=TASK_RETRY_DELAY.total_seconds() / 60,
        description=DESCRIPTION))
    def evaluation_publish():
        @task(task_id="compute")
        def compute_task(**context) -> list[dict]:
            return compute(_logical_date(context))

        @task(task_id="publish")
        def publish_task(period: dict, **context) -> dict:
            return publish(period, context["run_id"])

        publish_task.expand(period=compute_task())

    return evaluation_publish()
