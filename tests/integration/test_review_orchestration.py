"""Review of issue 13's orchestration (alerts' deadlines, the backfill wrapper, staging housekeeping).

Each test names one defect in its docstring, fails on aec6573 and passes once the defect is fixed.
Real components only: Airflow's own timetables, a loopback webhook receiver behind the HTTP
provider's notifier, a real warehouse (the ``dbs`` fixture) and real staging folders."""
from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from baselib import storage
from baselib.catalog import scan_catalog
from baselib.catalog.model import UpdateCycle
from baselib.orchestration import alerts, backfill
from baselib.records import housekeeping, load_run
from baselib.warehouse import connections, schema
from tests.e2e.alert_receiver import AlertReceiver

SH = ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def population():
    return next(r for r in scan_catalog().resources if r.code == "101001/000001")


@pytest.fixture(autouse=True)
def _fresh_alert_env(monkeypatch):
    for name in ("AIRFLOW_CONN_BASELIB_ALERTS", alerts.CHANNELS_ENV, alerts.EMAIL_TO_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(alerts, "_not_configured_logged", False)


def _with(resource, *, cycle=None, schedule=None):
    pipeline = resource.pipeline.model_copy(update={"schedule": schedule})
    update = {"pipeline": pipeline}
    if cycle is not None:
        update["update_cycle"] = cycle
    return resource.model_copy(update=update)


def _runs(cron: str, start: dt.datetime, end: dt.datetime):
    """The (logical date, data interval end) of every run Airflow's CronDataIntervalTimetable (the
    catalog DAGs' timetable, Asia/Shanghai) plans between ``start`` and ``end`` (inclusive), as
    ``airflow backfill create`` does (SerializedDAG.iter_dagrun_infos_between)."""
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    timetable = CronDataIntervalTimetable(cron, timezone="Asia/Shanghai")
    restriction = TimeRestriction(earliest=start, latest=end, catchup=True)
    out, last = [], None
    while (info := timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)):
        out.append((info.logical_date, info.data_interval.end))
        last = info.data_interval
        if len(out) > 1000:
            break
    return out


# --- 1. a manual re-run of an old interval raises a false provider_overdue --------------------------

def test_manual_rerun_of_an_old_interval_raises_no_overdue_alert(population, monkeypatch):
    """Defect: Airflow creates the DeadlineAlert's deadline for EVERY new run (SerializedDAG.create_dagrun
    → _process_dagrun_deadline_alerts), manual ones included, at logical date + overdue_interval.
    A data engineer who re-runs January's interval by hand in June (``airflow dags trigger
    --logical-date 2026-01-01...``, or the UI's "trigger with logical date") gets a run whose deadline
    is five months in the past: the scheduler marks it missed at once and alerts.overdue_callback,
    which only skips run_type ``backfill``, posts "provider data overdue" for a provider whose January
    data arrived on time. A deadline that had already passed when the run was queued says nothing
    about the provider and must not alert (the backfill exemption's own reason, README "Overdue
    deadline"). tests/e2e/test_review_orchestration_e2e.py proves with Airflow that such a past
    deadline is created; this test pins the callback side of the fix."""
    interval = alerts.overdue_interval(population)  # daily: 1 day + 6 h
    logical = dt.datetime(2026, 1, 1, tzinfo=SH)
    queued = dt.datetime(2026, 6, 1, 10, tzinfo=SH)
    # the context Deadline.handle_miss gives the callback: DAGRunResponse as JSON + the deadline
    context = {"dag_run": {"dag_id": population.dag_id, "dag_run_id": "manual__2026-01-01T00:00:00+08:00",
                           "run_type": "manual", "state": "running",
                           "logical_date": logical.astimezone(UTC).isoformat(),
                           "data_interval_start": logical.astimezone(UTC).isoformat(),
                           "data_interval_end": (logical + dt.timedelta(days=1)).astimezone(UTC).isoformat(),
                           "run_after": queued.astimezone(UTC).isoformat(),
                           "queued_at": queued.astimezone(UTC).isoformat()},
               "deadline": {"id": "1", "deadline_time": (logical + interval).astimezone(UTC)}}
    kwargs = {**alerts.resource_fields(population), "update_cycle": population.update_cycle.value,
              "overdue_after_hours": 6.0}
    with AlertReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", receiver.connection())
        sent = asyncio.run(alerts.overdue_callback(context=context, **kwargs))
    assert receiver.bodies("provider_overdue") == [] and sent == [], (
        "a manual re-run queued months after its interval's deadline alerted provider_overdue")


# --- 2. the deadline is not "grace after the data interval ends" ---------------------------------------

@pytest.mark.parametrize("cycle, schedule, start, end, due", [
    # February 2026 of a monthly resource: 28 days, but the deadline counted the nominal 31
    (UpdateCycle.monthly, None, dt.datetime(2026, 2, 1, tzinfo=SH), dt.datetime(2026, 2, 1, 1, tzinfo=SH),
     dt.datetime(2026, 3, 2, tzinfo=SH)),  # interval end 03-01 + 1 day
    # Q1 2026 of a quarterly resource: 90 days, the deadline counted 92
    (UpdateCycle.quarterly, None, dt.datetime(2026, 1, 1, tzinfo=SH), dt.datetime(2026, 1, 1, 1, tzinfo=SH),
     dt.datetime(2026, 4, 4, tzinfo=SH)),  # interval end 04-01 + 3 days
    # a daily provider on a weekday override: Monday's data is due Tuesday, the deadline counted the
    # longest gap (Friday → Monday, 3 days) for every run
    (UpdateCycle.daily, "0 2 * * 1-5", dt.datetime(2026, 3, 2, 2, tzinfo=SH), dt.datetime(2026, 3, 2, 3, tzinfo=SH),
     dt.datetime(2026, 3, 3, 8, tzinfo=SH)),  # interval end Tuesday 02:00 + 6 h
], ids=["monthly-february", "quarterly-q1", "daily-weekday-override-monday"])
def test_overdue_deadline_is_grace_after_the_interval_ends(population, cycle, schedule, start, end, due):
    """Defect: alerts.deadline_alert uses DeadlineReference.DAGRUN_LOGICAL_DATE + (the LONGEST cycle of
    the schedule + grace) for every run, while alerts.grace documents "how long after a data interval
    ends the data may still arrive before the provider is overdue". For shorter intervals the alert
    comes late by the difference: February's monthly data 3 days late, Q1's 2 days, and a weekday
    schedule's Monday data (due Tuesday 08:00 with a 6 h grace) only on Thursday 08:00. The deadline
    of a run must be its data interval's end + grace (e.g. a custom DeadlineReference on the run's
    data_interval_end, registered with DeadlineReference.register_custom_reference)."""
    resource = _with(population, cycle=cycle, schedule=schedule)
    from baselib.orchestration.schedules import cron_for

    ((logical, interval_end),) = _runs(cron_for(resource), start, end)
    alert = alerts.deadline_alert(resource)
    # the reference is the run's data interval END (evaluated by Airflow on the run's row; proven against
    # Airflow's own deadline rows in tests/e2e/test_alerts.py), the interval after it the grace
    assert isinstance(alert.reference, alerts.DataIntervalEndDeadline)
    deadline = interval_end + alert.interval
    assert deadline == interval_end + alerts.grace(resource) == due, (
        f"run {logical.isoformat()}: interval ends {interval_end.isoformat()}, grace {alerts.grace(resource)}, "
        f"but the deadline is {deadline.astimezone(SH).isoformat()}")


# --- 3. the backfill wrapper's "data days" on weekly / monthly / quarterly DAGs --------------------

@pytest.mark.parametrize("cron, from_, to, first_interval", [
    ("@monthly", "2026-01-15", "2026-03-15", dt.datetime(2026, 1, 1, tzinfo=SH)),
    ("0 0 1 1,4,7,10 *", "2026-02-01", "2026-06-30", dt.datetime(2026, 1, 1, tzinfo=SH)),
    ("@weekly", "2026-10-01", "2026-10-31", dt.datetime(2026, 9, 27, tzinfo=SH)),
], ids=["monthly", "quarterly", "weekly"])
def test_backfill_window_covers_the_interval_holding_the_first_data_day(cron, from_, to, first_interval):
    """Defect: ``python -m baselib.cli backfill`` promises --from/--to are *data days* in Asia/Shanghai
    ("the day the data covers"), but passes Airflow only [from 00:00, to 23:59:59] as bounds of the
    runs' LOGICAL dates (interval starts). That equals "data days" only for daily DAGs: for a monthly
    DAG, --from 2026-01-15 --to 2026-03-15 plans February and March and silently skips January (which
    holds 01-15..01-31) — the plan even prints those days as "not a scheduled data day"; a quarterly
    DAG skips Q1 for --from 2026-02-01, a weekly one the week holding 10-01..10-03. The wrapper must
    widen --from to the start of the DAG's interval that contains it (or refuse a date that is not an
    interval start)."""
    from airflow.timetables.interval import CronDataIntervalTimetable  # what the scheduler plans with

    win = backfill.window(from_, to, CronDataIntervalTimetable(cron, timezone="Asia/Shanghai"))  # the DAG's timetable
    planned = [logical for logical, _ in _runs(cron, win.start, win.end)]
    assert first_interval in planned, (
        f"{cron} --from {from_} --to {to}: Airflow plans {[p.astimezone(SH).date().isoformat() for p in planned]}; "
        f"the interval starting {first_interval.date()} holds data day {from_} and is missing")


# --- 4. housekeeping never removes the staging of a run whose task died -----------------------------

def _part(prefix: str, rows: int) -> None:
    storage.PartWriter(f"{prefix}/extract").write(pa.table({"v": pa.array(range(rows), pa.int64())}))


def test_staging_of_a_run_whose_task_died_is_removed_eventually(dbs, tmp_path, monkeypatch):
    """Defect: housekeeping.sweep keeps the folder of a run whose ops.load_run.status is ``running``,
    ``validated`` or ``loaded`` "however old". But a status only leaves ``running`` when the step
    itself records the failure (pipeline._fail inside ``except Exception``): a task killed by the
    OOM killer / SIGKILL / a lost worker (Airflow fails it as a zombie and the run ends failed),
    AirflowTaskTimeout (a BaseException, not caught), a warehouse outage while _fail writes, or a
    ``record`` step that fails for good (status stays ``loaded``) leaves the row non-terminal forever.
    The DAG run is failed and will never retry, yet its staging files are never removed — the
    unbounded leak the issue's housekeeping is meant to stop. A run left non-terminal far beyond the
    retention (here 60 days, retention 7) must be treated as failed (or the failure callback must
    mark it failed)."""
    staging = tmp_path / "staging"
    monkeypatch.setenv("BASELIB_STAGING_URL", staging.as_uri())
    monkeypatch.delenv("BASELIB_STAGING_RETENTION_DAYS", raising=False)
    dag = "base_review__dead_worker"
    conn = connections.connect("warehouse")
    try:
        schema.ensure(conn, [])
        ids = {}
        for status in ("running", "loaded"):
            load_id = load_run.start(conn, resource_code="REVIEW/" + status, dag_id=dag, run_id=f"scheduled__{status}",
                                     logical_date=None, data_interval_start=None, data_interval_end=None, mode="full")
            if status != "running":
                load_run.update(conn, load_id, status=status)
            with conn.cursor() as cur:
                cur.execute("UPDATE ops.load_run SET started_at = now() - interval '60 days' WHERE load_id = %s",
                            (load_id,))
            conn.commit()
            _part(storage.load_prefix(dag, load_id), 100)
            ids[status] = load_id
        # the parts were written 60 days ago, too
        import os
        stamp = (dt.datetime.now() - dt.timedelta(days=60)).timestamp()
        for path in [*(staging / dag).rglob("*")]:
            os.utime(path, (stamp, stamp))
        done = housekeeping.sweep(conn)
    finally:
        conn.close()
    left = {load_id: (staging / dag / f"load-{load_id}").is_dir() for load_id in ids.values()}
    assert not any(left.values()), (
        f"staging of runs abandoned 60 days ago kept forever: {[(f.uri, f.why_kept) for f in done.kept]}")


# --- 5. the reference wait's retry budget: no back-off at all ---------------------------------------

def test_reference_wait_backs_off_exponentially():
    """Defect: dag_factory sets ``retry_exponential_backoff=True``, but in Airflow 3.3 that argument is a
    float MULTIPLIER (sdk BaseOperator: "Set to 2.0 for standard exponential backoff"); True == 1.0, and
    TaskInstance.next_retry_datetime only backs off when the multiplier != 1.0. So every retry waits a
    flat 30 s and max_retry_delay (30 min) is never reached. _wait_for_references relies on that
    back-off ("retried by Airflow with the task's back-off ... the run goes on once it has"): on a fresh
    platform base_spatial__place_name (quarterly, retries 3) gives up after ~90 s while its reference
    base_spatial__admin_division (yearly, polygons) is still on its first load, and fails for good —
    no place names for the whole quarter. The delays computed by Airflow's own next_retry_datetime
    must grow from one try to the next."""
    from types import SimpleNamespace

    from airflow.models.taskinstance import TaskInstance

    from baselib.orchestration.dag_factory import build_dag

    resource = next(r for r in scan_catalog().resources if r.code == "103002/000001")
    extract = build_dag(resource).get_task("extract")
    end = dt.datetime(2026, 10, 1, tzinfo=UTC)
    delays = []
    for try_number in range(1, extract.retries + 1):
        ti = SimpleNamespace(task=extract, task_id="extract", try_number=try_number, dag_id=resource.dag_id,
                             logical_date=end,
                             end_date=end, retry_delay_override=None, log=None)
        delays.append(TaskInstance.next_retry_datetime(ti) - end)
    total = sum(delays, dt.timedelta(0))
    assert delays[-1] > delays[0], (
        f"extract retries {extract.retries} times, waiting {[str(d) for d in delays]} (total {total}): no back-off, "
        f"retry_exponential_backoff={extract.retry_exponential_backoff!r}")


# --- 6. a blocked load is later reported as "provider data overdue" -----------------------------------

def test_blocked_load_is_not_reported_as_provider_overdue(dbs, population, monkeypatch):
    """Defect: Airflow prunes a run's deadline only when the run SUCCEEDS (DagRun.update_state). A run
    whose validate was blocked by quality checks ends failed, the platform team already got a
    ``load_blocked`` alert naming the quality report — and a day later (daily: 1 day + 6 h after the
    logical date) its deadline is missed and alerts.overdue_callback posts ``provider_overdue``:
    "data for this interval not loaded by the deadline", blaming the provider for lateness although
    its data arrived on time and was rejected by the platform's own checks. The overdue callback must
    not report a run whose load is recorded as blocked (ops.load_run) as a late provider."""
    run_id = "scheduled__2026-11-20T16:00:00+00:00"
    conn = connections.connect("warehouse")
    try:
        schema.ensure(conn, [])
        load_id = load_run.start(conn, resource_code=population.code, dag_id=population.dag_id, run_id=run_id,
                                 logical_date=dt.datetime(2026, 11, 20, 16, tzinfo=UTC),
                                 data_interval_start=dt.datetime(2026, 11, 20, 16, tzinfo=UTC),
                                 data_interval_end=dt.datetime(2026, 11, 21, 16, tzinfo=UTC), mode="full")
        load_run.record_error(conn, load_id, "validate", RuntimeError("load blocked by table-level quality checks"),
                              status="blocked")
        conn.commit()
    finally:
        conn.close()
    context = {"dag_run": {"dag_id": population.dag_id, "dag_run_id": run_id, "run_type": "scheduled",
                           "state": "failed", "logical_date": "2026-11-20T16:00:00Z",
                           "data_interval_start": "2026-11-20T16:00:00Z", "data_interval_end": "2026-11-21T16:00:00Z",
                           "run_after": "2026-11-21T16:00:00Z", "queued_at": "2026-11-21T16:00:05Z"},
               "deadline": {"id": "1", "deadline_time": dt.datetime(2026, 11, 21, 22, tzinfo=UTC)}}
    kwargs = {**alerts.resource_fields(population), "update_cycle": population.update_cycle.value,
              "overdue_after_hours": 6.0}
    with AlertReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", receiver.connection())
        asyncio.run(alerts.overdue_callback(context=context, **kwargs))
    assert receiver.bodies("provider_overdue") == [], (
        "a run blocked by the platform's quality checks was reported as the provider's data being overdue")
