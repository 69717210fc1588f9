"""Alerts through Airflow itself, to a real loopback webhook receiver (tests/e2e/alert_receiver.py).

* A failing source (a PostgreSQL connection to a closed port, retries 0) under ``airflow dags test``:
  the extract task's ``on_failure_callback`` posts one ``task_failed`` naming the resource and provider.
* A blocked load (population data far over its quarantine threshold): ``load_blocked`` from the
  validate task, with the run's quality report.
* The deadline row Airflow creates for a run (``airflow dags trigger`` on a fresh metadata
  database): the run's data interval END + the grace, through the custom deadline reference the
  project's plugin registers (monthly February and daily runs).
* A deadline missed for real: a local Airflow (api-server, dag-processor, scheduler, triggerer;
  baselib.orchestration.local_airflow), the population entry on a ``* * * * *`` schedule with
  ``overdue_after: PT45S`` and a failing source, unpaused: a run the scheduler creates itself misses
  its deadline (interval end + 45 s), the scheduler queues the DeadlineAlert's callback and the
  triggerer posts ``provider_overdue`` naming the provider, the run's data interval and the
  deadline. A run created after its deadline (the first one, for the interval before unpausing,
  may be) posts nothing.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from baselib_simulators import population as sim
from tests.conftest import AS_OF, _free_port
from tests.e2e.airflow_cli import airflow, airflow_env, migrate
from tests.e2e.alert_receiver import AlertReceiver

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "base_population__person"
CODE, PROVIDER = "101001/000001", "省公安厅"
SECRET = "Al3rt-Source-Passw0rd"
SHANGHAI = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.airflow


@pytest.fixture
def alert_catalog(tmp_path, monkeypatch) -> Path:
    """The population entry alone, with retries 0 (a failing source fails the run at once)."""
    catalog, expectations = tmp_path / "catalog", tmp_path / "expectations"
    catalog.mkdir()
    expectations.mkdir()
    entry = yaml.safe_load((ROOT / "include" / "catalog" / "base_population_person.yaml").read_text(encoding="utf-8"))
    entry["pipeline"]["retries"] = 0
    (catalog / "base_population_person.yaml").write_text(
        yaml.safe_dump(entry, allow_unicode=True, sort_keys=False), encoding="utf-8")
    shutil.copy(ROOT / "expectations" / "base_population.person.json", expectations)
    monkeypatch.setenv("BASELIB_CATALOG_DIR", str(catalog))
    monkeypatch.setenv("BASELIB_EXPECTATIONS_DIR", str(expectations))
    for name in ("BASELIB_ALERT_CHANNELS", "BASELIB_ALERT_EMAIL_TO"):
        monkeypatch.delenv(name, raising=False)
    return catalog


@pytest.fixture
def closed_source(dbs, monkeypatch) -> str:
    """The population source connection pointed at a loopback port nothing listens on, with a password."""
    uri = f"postgresql://postgres:{SECRET}@127.0.0.1:{_free_port()}/nowhere?connect_timeout=3"
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_PUBLIC_SECURITY", uri)
    return uri


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    migrate(airflow_env(home))
    return home


def _dags_test(home: Path, receiver: AlertReceiver, date: str) -> subprocess.CompletedProcess:
    env = airflow_env(home, AIRFLOW_CONN_BASELIB_ALERTS=receiver.connection())
    return subprocess.run([airflow(), "dags", "test", DAG_ID, date], env=env, capture_output=True, text=True,
                          timeout=900, cwd=ROOT)


def _assert_names_the_resource(body: dict, interval: dt.timedelta = dt.timedelta(days=1)) -> None:
    assert body["dag_id"] == DAG_ID
    assert body["resource"] == {"code": CODE, "name": "户籍人口基本信息"}
    assert body["provider"]["name"] == PROVIDER
    assert body["data_interval"]["timezone"] == "Asia/Shanghai"
    start = dt.datetime.fromisoformat(body["data_interval"]["start"])
    end = dt.datetime.fromisoformat(body["data_interval"]["end"])
    assert start.utcoffset() == dt.timedelta(hours=8) and end - start == interval
    assert SECRET not in json.dumps(body, ensure_ascii=False)


def test_failing_source_posts_task_failed(dbs, alert_catalog, closed_source, airflow_home):
    with AlertReceiver() as receiver:
        done = _dags_test(airflow_home, receiver, "2026-11-02")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    assert [path for path, _ in receiver.posts] == ["/baselib/alerts"], out[-4000:]
    (body,) = receiver.bodies()
    assert body["kind"] == "task_failed" and body["task_id"] == "extract"
    assert body["run_id"].startswith("manual__") and body["report_path"] is None
    _assert_names_the_resource(body)
    assert "127.0.0.1" in body["error"]  # psycopg2's connection error, as the engine recorded it
    assert dbs.scalar("SELECT status FROM ops.load_run") == "failed"


def test_blocked_load_posts_load_blocked_with_its_report(dbs, alert_catalog, airflow_home):
    conn = dbs.source()
    sim.create(conn, rows=1000, seed=6, as_of=AS_OF, rates={k: 0.05 for k in sim.DEFECTS})
    conn.close()
    with AlertReceiver() as receiver:
        done = _dags_test(airflow_home, receiver, "2026-11-02")
    out = done.stdout + done.stderr
    assert done.returncode != 0
    (body,) = receiver.bodies()
    assert body["kind"] == "load_blocked" and body["task_id"] == "validate", out[-4000:]
    _assert_names_the_resource(body)
    assert "load blocked by table-level quality checks" in body["error"] and "quarantine_threshold" in body["error"]
    load_id, status, report_path = dbs.query("SELECT load_id, status, report_path FROM ops.load_run")[0]
    assert status == "blocked" and body["load_id"] == load_id
    assert body["report_path"] == report_path and Path(report_path).is_file()
    assert f"{DAG_ID}/load-{load_id}" in report_path


def _pipeline(catalog: Path, **settings) -> None:
    path = catalog / "base_population_person.yaml"
    entry = yaml.safe_load(path.read_text(encoding="utf-8"))
    entry["pipeline"].update(settings)
    path.write_text(yaml.safe_dump(entry, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize("settings, logical, interval_end, grace", [
    ({}, "2026-01-01T00:00:00+08:00", dt.datetime(2026, 1, 2, tzinfo=SHANGHAI), dt.timedelta(hours=6)),
    ({"schedule": "@monthly"}, "2026-02-01T00:00:00+08:00", dt.datetime(2026, 3, 1, tzinfo=SHANGHAI),
     dt.timedelta(hours=6)),
    ({"schedule": "0 2 * * 1-5", "overdue_after": "PT2H"}, "2026-03-02T02:00:00+08:00",
     dt.datetime(2026, 3, 3, 2, tzinfo=SHANGHAI), dt.timedelta(hours=2)),
], ids=["daily", "monthly-february", "weekday-monday"])
def test_deadline_is_the_grace_after_the_data_interval_ends(dbs, alert_catalog, tmp_path, settings, logical,
                                                             interval_end, grace):
    """Airflow itself (a migrated metadata database, the DAG serialized, a run created by ``airflow
    backfill create`` for one past interval) evaluates the DAG's
    DeadlineAlert through the plugin's DataIntervalEndDeadline: the deadline row is the run's data
    interval end + grace (February: 1 March 00:00 + 6 h, not logical date + 31 days + 6 h)."""
    import psycopg2

    from baselib.orchestration import local_airflow
    from baselib.warehouse import provision

    _pipeline(alert_catalog, **settings)
    database = f"baselib_test_deadline_{os.getpid()}"
    provision.drop_database(dbs.server, database)
    url = local_airflow.metadata_url(dbs.server, database)
    env = local_airflow.environment(tmp_path / "airflow_home", url, executor="LocalExecutor")
    try:
        for command in (["db", "migrate"], ["dags", "reserialize"],
                        ["backfill", "create", "--dag-id", DAG_ID, "--from-date", logical, "--to-date", logical]):
            done = subprocess.run(["nice", airflow(), *command], env=env, capture_output=True, text=True,
                                  timeout=900, cwd=ROOT)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        conn = psycopg2.connect("postgresql://" + url.split("://", 1)[1])
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT r.run_type, d.deadline_time, r.data_interval_end FROM deadline d JOIN dag_run r "
                            "ON r.id = d.dagrun_id WHERE r.dag_id = %s ORDER BY r.run_type", (DAG_ID,))
                rows = cur.fetchall()
        finally:
            conn.close()
    finally:
        provision.drop_database(dbs.server, database)
    assert rows == [("backfill", interval_end + grace, interval_end)], rows


@pytest.fixture
def airflow_stack(dbs, alert_catalog, closed_source, tmp_path):
    """The population entry on ``* * * * *`` with ``overdue_after: PT45S``.
    A running local Airflow with the triggerer, on its own metadata database, alerting to a
    loopback receiver; every process it started is stopped by pid afterwards."""
    from baselib.orchestration import local_airflow
    from baselib.warehouse import provision

    _pipeline(alert_catalog, schedule="* * * * *", overdue_after="PT45S")
    database = f"baselib_test_alerts_{os.getpid()}"
    provision.drop_database(dbs.server, database)
    with AlertReceiver() as receiver:
        env = local_airflow.environment(tmp_path / "airflow_home", local_airflow.metadata_url(dbs.server, database),
                                        executor="LocalExecutor")
        env["AIRFLOW_CONN_BASELIB_ALERTS"] = receiver.connection()
        stack = local_airflow.LocalAirflow(env)
        try:
            stack.migrate()
            stack.start(("api-server", "dag-processor", "scheduler", "triggerer"))
            yield stack, receiver
        finally:
            stack.stop()
            provision.drop_database(dbs.server, database)


def test_overdue_run_raises_the_deadline_alert(alert_catalog, airflow_stack):
    stack, receiver = airflow_stack
    stack.unpause([DAG_ID])

    overdue = receiver.wait_for("provider_overdue", timeout=420)
    assert overdue, f"no provider_overdue alert; see the scheduler and triggerer logs in {stack.home}"
    body = overdue[0]
    _assert_names_the_resource(body, interval=dt.timedelta(minutes=1))
    assert body["provider"]["code"] == "11360000014400005D"
    assert body["run_id"].startswith("scheduled__")
    # the deadline: the run's data interval END + the 45 s grace
    end = dt.datetime.fromisoformat(body["data_interval"]["end"])
    assert dt.datetime.fromisoformat(body["deadline"]) == end + dt.timedelta(seconds=45)
    assert body["update_cycle"] == "每日" and body["overdue_after_hours"] == round(45 / 3600, 3)
    # the same run's failing extract alerted through the executor's task process too
    failed = receiver.wait_for("task_failed", timeout=180, where=lambda b: b["run_id"] == body["run_id"])
    assert [b["task_id"] for b in failed] == ["extract"], receiver.bodies()
