"""``python -m baselib.cli backfill`` against Airflow's own CLI on a fresh PostgreSQL metadata DB.

The DAGs are serialized with ``airflow dags reserialize`` (what ``airflow backfill create`` reads)
and arrive paused (``dags_are_paused_at_creation``). No scheduler runs: the backfill's runs are
created and stay queued, which is all these tests look at.

Observed with Airflow 3.3.2 (asserted below): ``airflow backfill create --from-date 2026-10-01
--to-date 2026-10-07`` reads the dates as UTC midnights and plans the runs whose logical date lies
in [2026-10-01T00:00Z, 2026-10-07T00:00Z]; a daily catalog DAG's logical dates are Asia/Shanghai
midnights (16:00 UTC the day before), so it plans six runs, the data days 2026-10-02..07 — the
first day, 2026-10-01, is missed. And the bounds are logical dates, i.e. data interval STARTS: on
a monthly DAG ``--from-date 2026-01-15T00:00:00+08:00`` plans February and March, not January,
whose interval holds 01-15..01-31; the wrapper starts at the run holding --from (2026-01-01).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import psycopg2
import pytest

from baselib.orchestration.backfill import parse_dry_run
from tests.e2e.airflow_cli import ROOT, airflow

pytestmark = pytest.mark.airflow
UTC = dt.timezone.utc
PLAIN_DAG = "base_population__person"       # daily (每日): CronDataIntervalTimetable("@daily", Asia/Shanghai)
PAUSED_DAG = "base_legal_entity__legal_entity"  # daily too; the pause tests create a backfill on it
MONTHLY_DAG = "base_macro_economy__indicator_value"  # 每月: CronDataIntervalTimetable("@monthly", Asia/Shanghai)
QUARTERLY_DAG = "base_spatial__place_name"           # 每季度: "0 0 1 1,4,7,10 *"
TRIGGER_DAG = "evaluation_publish"                   # CronTriggerTimetable("0 2 1 * *", Asia/Shanghai)
SH = dt.timezone(dt.timedelta(hours=8))
LOCAL_MIDNIGHTS = [dt.datetime(2026, 9, 30, 16, tzinfo=UTC) + dt.timedelta(days=i) for i in range(7)]  # 10-01..07


@pytest.fixture(scope="module")
def meta(pg_server, tmp_path_factory):
    """A migrated metadata database with every DAG serialized (paused); yields the environment of
    the Airflow commands and the metadata database's libpq URI; drops the database afterwards."""
    from baselib.orchestration import local_airflow
    from baselib.warehouse import provision

    database = f"baselib_test_backfill_{os.getpid()}"
    provision.drop_database(pg_server, database)
    url = local_airflow.metadata_url(pg_server, database)
    env = local_airflow.environment(tmp_path_factory.mktemp("airflow_home"), url)
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"  # the trap under test, whatever the default
    try:
        for command in (["db", "migrate"], ["dags", "reserialize"]):
            done = subprocess.run([airflow(), *command], env=env, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        yield env, "postgresql://" + url.split("://", 1)[1]
    finally:
        provision.drop_database(pg_server, database)


def run(env, *args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def wrapper(env, *args) -> subprocess.CompletedProcess:
    return run(env, sys.executable, "-m", "baselib.cli", "backfill", *args)


def json_out(done: subprocess.CompletedProcess):
    """The JSON line of an ``airflow … -o json`` command's output (log lines may precede it)."""
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("[")))


def is_paused(env, dag_id) -> bool:
    details, = json_out(run(env, airflow(), "dags", "details", dag_id, "-o", "json"))
    return details["is_paused"] == "True"


def backfill_runs(env, dag_id) -> list[dict]:
    done = run(env, airflow(), "dags", "list-runs", dag_id, "-o", "json")
    if done.returncode == 0 and "[" not in done.stdout:
        return []  # no runs: Airflow prints a notice, not JSON
    return [r for r in json_out(done) if r["run_id"].startswith("backfill__")]


def test_plain_dates_miss_the_first_local_day_and_the_wrapper_plans_all_seven(meta):
    env, _ = meta
    plain = run(env, airflow(), "backfill", "create", "--dag-id", PLAIN_DAG,
                "--from-date", "2026-10-01", "--to-date", "2026-10-07", "--dry-run")
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert "from_date = 2026-10-01 00:00:00+00:00" in plain.stdout        # read as UTC
    planned = [r.logical_date for r in parse_dry_run(plain.stdout)]
    assert planned == LOCAL_MIDNIGHTS[1:]                                   # 10-02..10-07 local: 10-01 missed

    done = wrapper(env, "--dag-id", PLAIN_DAG, "--from", "2026-10-01", "--to", "2026-10-07", "--dry-run")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert (f"backfill create --dag-id {PLAIN_DAG} --from-date 2026-10-01T00:00:00+08:00 "
            "--to-date 2026-10-07T23:59:59.999999+08:00 --dry-run") in out
    assert f"planned runs of {PLAIN_DAG}: 7 " in out
    days = [line.split()[2] for line in out.splitlines() if line.startswith("  data day ")]
    assert days == [f"2026-10-0{d}" for d in range(1, 8)]
    for midnight in LOCAL_MIDNIGHTS:
        local = midnight.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()
        assert f"logical date {local} ({midnight.isoformat()})" in out
    assert f"warning: DAG {PLAIN_DAG} is paused" in out and "dry run: nothing created" in out
    assert backfill_runs(env, PLAIN_DAG) == []                              # a dry run creates nothing


def test_a_paused_dag_is_refused_and_unpaused_on_request(meta):
    env, metadata = meta
    assert is_paused(env, PAUSED_DAG)
    refused = wrapper(env, "--dag-id", PAUSED_DAG, "--from", "2026-10-01", "--to", "2026-10-07")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert (f"DAG {PAUSED_DAG} is paused: a backfill would be queued and never run; unpause it "
            f"(airflow dags unpause {PAUSED_DAG}) or pass --unpause") in refused.stderr
    assert is_paused(env, PAUSED_DAG) and backfill_runs(env, PAUSED_DAG) == []

    done = wrapper(env, "--dag-id", PAUSED_DAG, "--from", "2026-10-01", "--to", "2026-10-07", "--unpause",
                   "--max-active-runs", "2")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"unpaused DAG {PAUSED_DAG}" in done.stdout and f"backfill created for {PAUSED_DAG}: 7 runs" in done.stdout
    assert not is_paused(env, PAUSED_DAG)
    runs = backfill_runs(env, PAUSED_DAG)
    assert sorted(dt.datetime.fromisoformat(r["logical_date"]) for r in runs) == LOCAL_MIDNIGHTS
    with psycopg2.connect(metadata) as conn, conn.cursor() as cur:
        cur.execute("SELECT from_date, to_date, max_active_runs FROM backfill WHERE dag_id = %s", (PAUSED_DAG,))
        (start, end, max_active), = cur.fetchall()
    conn.close()
    assert start == LOCAL_MIDNIGHTS[0] and end == dt.datetime(2026, 10, 7, 15, 59, 59, 999999, tzinfo=UTC)
    assert max_active == 2

    # one backfill per DAG at a time: Airflow refuses the next, the wrapper says why in one line
    again = wrapper(env, "--dag-id", PAUSED_DAG, "--from", "2026-10-08", "--to", "2026-10-09")
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "AlreadyRunningBackfill: Another backfill is running" in again.stderr


def test_an_unknown_dag_is_a_clear_error(meta):
    env, _ = meta
    done = wrapper(env, "--dag-id", "no_such_dag", "--from", "2026-10-01", "--to", "2026-10-07", "--dry-run")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("backfill: DAG no_such_dag not found in the metadata database")


def plan_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("  data day ", "  data days "))]


def test_a_monthly_dag_plans_the_month_holding_the_first_day(meta):
    env, _ = meta
    plain = run(env, airflow(), "backfill", "create", "--dag-id", MONTHLY_DAG, "--from-date", "2026-01-15T00:00:00+08:00",
                "--to-date", "2026-03-15T23:59:59.999999+08:00", "--dry-run")
    assert [r.logical_date for r in parse_dry_run(plain.stdout)] == [     # Airflow alone: January is skipped
        dt.datetime(2026, 2, 1, tzinfo=SH), dt.datetime(2026, 3, 1, tzinfo=SH)]

    done = wrapper(env, "--dag-id", MONTHLY_DAG, "--from", "2026-01-15", "--to", "2026-03-15", "--dry-run")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert (f"backfill create --dag-id {MONTHLY_DAG} --from-date 2026-01-01T00:00:00+08:00 "
            "--to-date 2026-03-15T23:59:59.999999+08:00 --dry-run") in out
    assert f"planned runs of {MONTHLY_DAG}: 3 " in out
    assert "  --from 2026-01-15T00:00:00+08:00 lies in the run of data days 2026-01-01 .. 2026-01-31 " in out
    assert plan_lines(out) == [
        "  data days 2026-01-01 .. 2026-01-31 (31 days)  logical date 2026-01-01T00:00:00+08:00 (2025-12-31T16:00:00+00:00)",
        "  data days 2026-02-01 .. 2026-02-28 (28 days)  logical date 2026-02-01T00:00:00+08:00 (2026-01-31T16:00:00+00:00)",
        "  data days 2026-03-01 .. 2026-03-31 (31 days)  logical date 2026-03-01T00:00:00+08:00 (2026-02-28T16:00:00+00:00)"]
    assert "not a scheduled data day" not in out and "no planned run covers" not in out


def test_a_quarterly_dag_plans_the_quarter_holding_the_first_day(meta):
    env, _ = meta
    done = wrapper(env, "--dag-id", QUARTERLY_DAG, "--from", "2026-02-01", "--to", "2026-06-30", "--dry-run")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--from-date 2026-01-01T00:00:00+08:00 --to-date 2026-06-30T23:59:59.999999+08:00 --dry-run" in done.stdout
    assert [line.split("  logical date ")[0] for line in plan_lines(done.stdout)] == [
        "  data days 2026-01-01 .. 2026-03-31 (90 days)", "  data days 2026-04-01 .. 2026-06-30 (91 days)"]


def test_a_cron_trigger_dag_keeps_the_days_as_given(meta):
    """A platform DAG (CronTriggerTimetable, intervals of length 0): --from is not moved; the plan
    has the triggers on the days asked for, and names the days no trigger falls on."""
    env, _ = meta
    done = wrapper(env, "--dag-id", TRIGGER_DAG, "--from", "2026-01-15", "--to", "2026-03-15", "--dry-run")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--from-date 2026-01-15T00:00:00+08:00 --to-date 2026-03-15T23:59:59.999999+08:00 --dry-run" in done.stdout
    assert "lies in the run" not in done.stdout
    assert plan_lines(done.stdout) == [
        "  data day 2026-02-01  logical date 2026-02-01T02:00:00+08:00 (2026-01-31T18:00:00+00:00)",
        "  data day 2026-03-01  logical date 2026-03-01T02:00:00+08:00 (2026-02-28T18:00:00+00:00)"]
    assert ("  no planned run covers: 2026-01-15..2026-01-31, 2026-02-02..2026-02-28, 2026-03-02..2026-03-15 ("
            in done.stdout)
