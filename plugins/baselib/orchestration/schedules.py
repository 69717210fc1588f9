"""Default schedules derived from a resource's 更新周期 (update cycle)."""
from __future__ import annotations

from baselib.catalog.model import Resource, UpdateCycle

CRON: dict[UpdateCycle, str | None] = {
    UpdateCycle.realtime: "@hourly",
    UpdateCycle.daily: "@daily",
    UpdateCycle.weekly: "@weekly",
    UpdateCycle.monthly: "@monthly",
    UpdateCycle.quarterly: "0 0 1 1,4,7,10 *",
    UpdateCycle.half_yearly: "0 0 1 1,7 *",
    UpdateCycle.yearly: "@yearly",
    UpdateCycle.other: None,  # triggered by hand or by an asset
}
TIMEZONE = "Asia/Shanghai"


def cron_for(resource: Resource) -> str | None:
    return resource.pipeline.schedule or CRON[resource.update_cycle]


def start_date(resource: Resource):
    """The DAG's ``start_date`` (aware, UTC): the start of the data interval BEFORE the one holding
    the catalog publish date (local midnight, Asia/Shanghai) on the resource's cron; the publish date
    itself without a cron. With ``catchup=False`` a newly deployed DAG runs its latest complete
    interval at once: a yearly library published in March 2026 loads 2025's data when deployed,
    instead of waiting until its first interval after the publish date ends (2028 for 2027's data),
    which left the libraries checked against it waiting on a fresh platform."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from croniter import croniter

    local = dt.datetime.combine(resource.publish_date, dt.time(), ZoneInfo(TIMEZONE))
    cron = cron_for(resource)
    if cron is None or resource.is_theme:
        return local.astimezone(dt.timezone.utc)
    fires = croniter(cron, local + dt.timedelta(seconds=1))  # a fire at the publish midnight holds it
    fires.get_prev(dt.datetime)  # the start of the interval holding the publish date
    return fires.get_prev(dt.datetime).astimezone(dt.timezone.utc)


# The platform's own scheduled DAGs (sharing_reconcile, quality_returns, evaluation_publish).
PLATFORM_START_DATE = (2026, 1, 1)


def platform_dag_args(dag_id: str, *, description: str, doc_md: str | None, cron: str, concern: str,
                      retries: int = 1, retry_delay_minutes: float = 1) -> dict:
    """The ``@dag`` keyword arguments of a platform DAG: a cron trigger in Asia/Shanghai (``cron``,
    five fields), no catch-up, one run at a time, tags ``[concern, "data-platform"]``, owner
    ``data-platform`` and ``retries`` per task, ``retry_delay_minutes`` apart, and a task that fails
    for good alerts the platform team (:func:`baselib.orchestration.alerts.on_failure`)."""
    import datetime as dt

    from airflow.sdk import CronTriggerTimetable

    from baselib.orchestration import alerts

    return {
        "dag_id": dag_id, "description": description, "doc_md": doc_md,
        "schedule": CronTriggerTimetable(cron, timezone=TIMEZONE),
        "start_date": dt.datetime(*PLATFORM_START_DATE, tzinfo=dt.timezone.utc),
        "catchup": False, "max_active_runs": 1, "tags": [concern, "data-platform"],
        "default_args": {"owner": "data-platform", "retries": retries,
                         "retry_delay": dt.timedelta(minutes=retry_delay_minutes),
                         "on_failure_callback": alerts.on_failure()},
    }
