"""Review of issue 13's orchestration through Airflow itself (its CLI on a fresh PostgreSQL metadata
database, the DAGs serialized by ``airflow dags reserialize``; no scheduler runs).

Each test names one defect in its docstring, fails on aec6573 and passes once the defect is fixed."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import psycopg2
import pytest

from tests.e2e.airflow_cli import ROOT, airflow

pytestmark = pytest.mark.airflow
UTC = dt.timezone.utc
SH = dt.timezone(dt.timedelta(hours=8))
DAILY_DAG = "base_population__person"             # 每日: CronDataIntervalTimetable("@daily", Asia/Shanghai)
MONTHLY_DAG = "base_macro_economy__indicator_value"  # 每月: "@monthly"
QUARTERLY_DAG = "base_spatial__place_name"        # 每季度: "0 0 1 1,4,7,10 *"


@pytest.fixture(scope="module")
def meta(pg_server, tmp_path_factory):
    """A migrated metadata database with every DAG serialized; yields the Airflow commands'
    environment and the metadata database's libpq URI; drops the database afterwards."""
    from baselib.orchestration import local_airflow
    from baselib.warehouse import provision

    database = f"baselib_test_review_orch_{os.getpid()}"
    provision.drop_database(pg_server, database)
    url = local_airflow.metadata_url(pg_server, database)
    env = local_airflow.environment(tmp_path_factory.mktemp("airflow_home"), url)
    try:
        for command in (["db", "migrate"], ["dags", "reserialize"]):
            done = subprocess.run(["nice", airflow(), *command], env=env, capture_output=True, text=True,
                                  timeout=900)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        yield env, "postgresql://" + url.split("://", 1)[1]
    finally:
        provision.drop_database(pg_server, database)


def run(env, *args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_manual_rerun_of_an_old_interval_raises_no_overdue_alert(meta, monkeypatch):
    """Defect (alerts.deadline_alert / alerts.overdue_callback): Airflow creates the provider-overdue
    deadline for every new run, a manual one too, at logical date + cycle + grace. Re-running
    January's data day by hand (``airflow dags trigger --logical-date 2026-01-01T00:00:00+08:00``)
    creates a Deadline eleven months in the past; the scheduler's next loop (``deadline_time < now``,
    not missed) marks it missed and queues the stored callback for the triggerer, and
    alerts.overdue_callback (which skips only backfill runs) posts ``provider_overdue`` for a
    provider whose January data arrived on time. Either no past deadline may be created for such a
    run, or its callback must send nothing. Here the stored callback is run as Deadline.handle_miss
    + the triggerer would: its import path and kwargs from the ``callback`` row, the context
    ``{"dag_run": <the run as JSON>, "deadline": {"id", "deadline_time"}}``, against a loopback
    webhook receiver."""
    import asyncio
    import importlib

    from tests.e2e.alert_receiver import AlertReceiver

    env, libpq = meta
    run_id = "manual__review_old_interval"
    done = run(env, airflow(), "dags", "trigger", DAILY_DAG, "--run-id", run_id,
               "--logical-date", "2026-01-01T00:00:00+08:00")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    conn = psycopg2.connect(libpq)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT d.id::text, d.deadline_time, c.data, r.dag_id, r.run_id, r.run_type, r.state, "
                        "r.logical_date, r.data_interval_start, r.data_interval_end, r.run_after, r.queued_at "
                        "FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id JOIN callback c ON c.id = d.callback_id "
                        "WHERE r.dag_id = %s AND r.run_id = %s AND d.deadline_time < now() AND NOT d.missed",
                        (DAILY_DAG, run_id))
            due = cur.fetchall()
    finally:
        conn.close()
    if not due:
        return  # fixed by not creating a deadline that has already passed
    posted = []
    for deadline_id, deadline_time, data, dag_id, rid, run_type, state, logical, start, end, after, queued in due:
        def iso(value):
            return value.isoformat() if value is not None else None

        context = {"dag_run": {"dag_id": dag_id, "dag_run_id": rid, "run_type": run_type, "state": state,
                               "logical_date": iso(logical), "data_interval_start": iso(start),
                               "data_interval_end": iso(end), "run_after": iso(after), "queued_at": iso(queued)},
                   "deadline": {"id": deadline_id, "deadline_time": deadline_time}}
        from airflow.serialization.serialized_objects import BaseSerialization

        data = BaseSerialization.deserialize(data)  # the column is Airflow's ExtendedJSON
        module, _, name = data["path"].rpartition(".")
        callback = getattr(importlib.import_module(module), name)
        with AlertReceiver() as receiver:
            monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", receiver.connection())
            asyncio.run(callback(context=context, **(data.get("kwargs") or {})))
        posted += receiver.bodies("provider_overdue")
    assert posted == [], (
        f"the manual re-run of 2026-01-01, queued {due[0][11]}, got deadline {due[0][1]} and alerted: {posted}")


@pytest.mark.parametrize("dag_id, from_, to, first_interval", [
    (MONTHLY_DAG, "2026-01-15", "2026-03-15", dt.datetime(2026, 1, 1, tzinfo=SH)),
    (QUARTERLY_DAG, "2026-02-01", "2026-06-30", dt.datetime(2026, 1, 1, tzinfo=SH)),
])
def test_backfill_wrapper_includes_the_interval_holding_the_first_data_day(meta, dag_id, from_, to, first_interval):
    """Defect (baselib/orchestration/backfill.py window/parse_bound): ``--from``/``--to`` are documented
    as data days in Asia/Shanghai, "the day the data covers", but are passed to Airflow as bounds on
    the runs' logical dates (interval STARTS). For a monthly DAG, --from 2026-01-15 --to 2026-03-15
    plans February and March only: January, which holds the data days 01-15..01-31, is skipped, and
    the plan prints those days as "not a scheduled data day". A quarterly DAG with --from 2026-02-01
    loses Q1. The plan must include the interval that contains --from."""
    from baselib.orchestration.backfill import parse_dry_run

    env, _ = meta
    done = run(env, sys.executable, "-m", "baselib.cli", "backfill", "--dag-id", dag_id, "--from", from_,
               "--to", to, "--dry-run")
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]
    raw = next((line for line in done.stdout.splitlines() if "--dry-run" in line and line.startswith("$ ")), None)
    assert raw is not None, done.stdout[-2000:] + done.stderr[-2000:]
    again = run(env, *raw[2:].split())
    planned = [r.logical_date for r in parse_dry_run(again.stdout)]
    assert first_interval in planned, (
        f"{dag_id} --from {from_} --to {to}: planned {[p.astimezone(SH).date().isoformat() for p in planned]}; "
        f"the interval starting {first_interval.date()} (holding {from_}) is missing.\n{done.stdout[-1500:]}")
