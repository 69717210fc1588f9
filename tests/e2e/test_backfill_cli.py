"""``python -m baselib.cli backfill`` against Airflow's own CLI on a fresh PostgreSQL metadata DB.

The DAGs are serialized with ``airflow dags reserialize`` (what ``airflow backfill create`` reads)
and arrive paused (``dags_are_paused_at_creation``). No scheduler runs: the backfill's runs are
created and stay queued, which is all these tests look at.

Observed with Airflow 3.3.2 (asserted below): ``airflow backfill create --from-date 2026-10-01
--to-date 2026-10-07`` reads the dates as UTC midnights and plans the runs whose logical date lies
in [2026-10-01T00:00Z, 2026-10-07T00:00Z]; a daily catalog DAG's logical dates are Asia/Shanghai
midnights (16:00 UTC the day before), so it plans six runs, the data days 2026-10-02..07 — the
first day, 2026-10-01, is missed.
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
