"""The monthly ``evaluation_publish`` DAG run through Airflow itself (``airflow dags test``), on a
warehouse holding a month of simulated platform history, with the simulated evaluation system
running in its own process (started as the demo starts it) and the connection given as
``AIRFLOW_CONN_EVALUATION_API``.

The run for a logical date in November computes October's indicators of every department and
publishes them: each key is held once by the system with the payload built from the stored row,
``evaluation.publication`` says published, and each attempt is recorded under the run's id. Two
injected 503s are absorbed by the engine's retries inside the task."""
from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import httpx
import psycopg2.extras
import pytest

from baselib.evaluation import payload as payloads
from baselib.evaluation import periods
from baselib.sources.http_api import parse_connection
from baselib_simulators import evaluation_service
from tests.e2e.airflow_cli import airflow, airflow_env, migrate

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.airflow

LOGICAL_DAY = dt.date(2026, 11, 1)                 # 08:00 Asia/Shanghai on 1 November
PERIOD = periods.containing("month", LOGICAL_DAY).previous()   # October: the month that ended


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    migrate(airflow_env(home))
    return home


@pytest.fixture
def evaluation_system(airflow_home, tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_EVALUATION_API", raising=False)
    monkeypatch.delenv(evaluation_service.PORT_VARIABLE, raising=False)
    running = evaluation_service.start(airflow_home, store=tmp_path / "evaluation_store.json")
    yield running
    evaluation_service.stop(running)


def _api(running, method: str, path: str, **kwargs) -> httpx.Response:
    conn = parse_connection(running.uri)
    return httpx.request(method, conn.base_url + path, headers={"Authorization": f"Bearer {conn.token}"},
                         timeout=10, **kwargs)


def test_evaluation_publish_dag_computes_and_publishes_the_month_that_ended(dbs, airflow_home, evaluation_system):
    from baselib_simulators import history

    conn = dbs.warehouse()
    try:
        history.simulate(conn, PERIOD.start, PERIOD.end, seed=20261101)
    finally:
        conn.close()
    assert _api(evaluation_system, "POST", evaluation_service.FAULTS_ENDPOINT,
                json={"fail_next": 2, "status": 503}).status_code == 200

    env = airflow_env(airflow_home, AIRFLOW_CONN_EVALUATION_API=evaluation_system.uri)
    done = subprocess.run([airflow(), "dags", "test", "evaluation_publish", LOGICAL_DAY.isoformat()], env=env,
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    conn = dbs.warehouse()
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT * FROM evaluation.indicator ORDER BY department_code")
            stored = [dict(r) for r in cur.fetchall()]
    finally:
        conn.close()
    assert stored, "the run computed no indicators"
    assert {(r["period_kind"], r["period"]) for r in stored} == {("month", PERIOD.label)}   # its own period only
    expected = {f"{r['department_code']}/month/{PERIOD.label}": payloads.build(r) for r in stored}

    # the system holds each key once, with the payload of the stored row
    held = {item["key"]: item for item in _api(evaluation_system, "GET", evaluation_service.ENDPOINT).json()["items"]}
    assert sorted(held) == sorted(expected)
    assert all(held[k]["payload"] == expected[k] and len(held[k]["received_at"]) == 1 for k in expected)

    publications = dbs.query("SELECT department_code || '/' || period_kind || '/' || period, status, error, "
                             "payload_sha256 FROM evaluation.publication")
    assert sorted(publications) == sorted((k, "published", None, payloads.digest(p)) for k, p in expected.items())

    attempts = dbs.query("SELECT department_code || '/' || period_kind || '/' || period, attempt, status, "
                         "http_status, run_id FROM evaluation.publish_attempt ORDER BY attempt_id")
    run_ids = {a[4] for a in attempts}
    assert len(run_ids) == 1 and next(iter(run_ids)).startswith("manual__"), run_ids
    first = sorted(expected)[0]
    assert [a[1:4] for a in attempts if a[0] == first] == [(1, "retrying", 503), (2, "retrying", 503),
                                                          (3, "published", 201)]
    assert sorted(a[0] for a in attempts if a[2] == "published") == sorted(expected)


@pytest.mark.parametrize("logical_date, expected", [
    (dt.datetime(2026, 12, 1, 2, tzinfo=periods.TIMEZONE), ["2026-11"]),
    (dt.datetime(2026, 10, 1, 2, tzinfo=periods.TIMEZONE), ["2026-09", "2026Q3"]),
    (dt.datetime(2027, 1, 1, 2, tzinfo=periods.TIMEZONE), ["2026-12", "2026Q4", "2026"]),
    # a backfilled run for 2026-04-01 02:00 local (2026-03-31 18:00 UTC): its own periods, not today's
    (dt.datetime(2026, 3, 31, 18, tzinfo=dt.timezone.utc), ["2026-03", "2026Q1"]),
])
def test_each_run_computes_the_periods_that_ended_before_its_logical_date(logical_date, expected):
    from baselib.orchestration.evaluation_dag import periods_for

    assert [p.label for p in periods_for(logical_date)] == expected
