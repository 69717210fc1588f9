"""The distributed deployment, proven with real processes: Airflow's api-server, scheduler,
dag-processor and triggerer plus one Celery worker (CeleryExecutor, Redis db 3 as the broker, the
result backend on the PostgreSQL metadata database), each a process of its own, as the
docker-compose services are.

Two base-library DAGs (the population library from a department database, the statistics
indicator catalogue from a file drop) are triggered through Airflow's REST API; every task of
those runs must succeed on the Celery worker — by the task instances' queue and hostname, by the
worker's own log naming each task, and by the Celery result backend holding a SUCCESS row under
each task instance's Celery task id. The fixture theme, whose input is the population library, must
then be started by the scheduler (an asset-triggered run) and load. At the end every process
started is stopped by pid, and none is left (nor any process of their sessions).

A queue name unique to this run keeps a worker or a queued message left by another run away.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import time
import uuid
from pathlib import Path

import pytest

from baselib_simulators import macro_economy
from baselib_simulators import population as sim
from tests.conftest import AS_OF
from tests.e2e.test_theme_triggering import FIXTURES, INPUT, ROOT, THEME, theme_catalog  # noqa: F401 (fixture)

pytestmark = pytest.mark.airflow
BROKER = "redis://127.0.0.1:6379/3"
INDICATOR_ENTRY = "base_macro_economy_indicator.yaml"
INDICATOR_SUITE = "base_macro_economy.indicator.json"
LOGICAL_DATE = "2026-11-02T00:00:00+00:00"


@pytest.fixture
def celery_stack(dbs, theme_catalog, landing, tmp_path, monkeypatch):  # noqa: F811 (the imported fixture)
    """A running local Airflow with a Celery worker on a fresh metadata database; stopped by pid
    afterwards, whatever happened. Yields ``(stack, metadata libpq URI, every pid started)``."""
    import redis

    from baselib.orchestration import local_airflow
    from baselib.warehouse import provision

    try:
        redis.Redis.from_url(BROKER, socket_timeout=3).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):  # the CI machine has Redis on 6379: the proof must not silently go missing
            pytest.fail(f"no Redis broker at {BROKER}: {exc}")
        pytest.skip(f"no Redis broker at {BROKER}: {exc}")
    shutil.copy(ROOT / "include" / "catalog" / INDICATOR_ENTRY, theme_catalog)
    shutil.copy(ROOT / "expectations" / INDICATOR_SUITE, theme_catalog.parent / "expectations")
    queue = f"baselib-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_QUEUE", queue)
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", BROKER)
    monkeypatch.setenv("BASELIB_CELERY_WORKERS", "1")
    monkeypatch.delenv("AIRFLOW__CELERY__RESULT_BACKEND", raising=False)

    database = f"baselib_test_celery_{os.getpid()}"
    provision.drop_database(dbs.server, database)
    metadata = local_airflow.metadata_url(dbs.server, database)
    env = local_airflow.environment(tmp_path / "airflow_home", metadata, executor="CeleryExecutor")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + metadata
    stack = local_airflow.LocalAirflow(env)
    started: list = []
    try:
        stack.migrate()
        stack.start(timeout=300)
        started.extend(stack.processes)
        yield stack, "postgresql://" + metadata.split("://", 1)[1], started
    finally:
        started.extend(p for p in stack.processes if p not in started)
        stack.stop()
        provision.drop_database(dbs.server, database)
        broker = redis.Redis.from_url(BROKER, socket_timeout=3)
        if leftovers := broker.keys(f"*{queue}*"):  # this run's queue and its bindings
            broker.delete(*leftovers)


def _metadata_rows(uri: str, sql: str, params=None) -> list[tuple]:
    import psycopg

    with psycopg.connect(uri) as conn:
        return conn.execute(sql, params).fetchall()


def _wait_runs_done(stack, runs: dict[str, str], timeout: float = 900) -> dict[str, dict]:
    """Poll REST until each ``{dag_id: run_id}`` has finished; the runs' REST entries."""
    deadline, done = time.monotonic() + timeout, {}
    with stack.client() as api:
        while len(done) < len(runs) and time.monotonic() < deadline:
            if exited := stack._exited():
                raise stack._fail(f"{[p.component for p in exited]} stopped while the runs were going")
            for dag_id, run_id in runs.items():
                run = api.get(f"/dags/{dag_id}/dagRuns/{run_id}").raise_for_status().json()
                if run["state"] in ("success", "failed"):
                    done[dag_id] = run
            time.sleep(3)
    if len(done) < len(runs):
        raise stack._fail(f"runs not finished within {timeout:.0f} s: {sorted(set(runs) - set(done))}")
    return done


def _session_members(pids: set[int]) -> list[int]:
    from baselib.orchestration.local_airflow import _members

    return _members(pids)


def test_base_libraries_run_on_the_celery_worker_and_trigger_the_theme(dbs, landing, celery_stack):
    from baselib.catalog import load_catalog

    stack, metadata, started = celery_stack
    components = sorted(p.component for p in started)
    assert components == ["api-server", "celery worker", "dag-processor", "scheduler", "triggerer"]
    worker = next(p for p in started if p.component == "celery worker")
    assert worker.node.startswith("baselib-worker-1@") and stack.ping_workers() == {worker.node}
    queue = stack.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]

    conn = dbs.source()
    sim.create(conn, rows=300, seed=11, as_of=AS_OF, rates={k: 0.0 for k in sim.DEFECTS})  # every row loads
    conn.close()
    macro_economy.write_indicators(landing)
    catalog = load_catalog(Path(os.environ["BASELIB_CATALOG_DIR"]), Path(os.environ["BASELIB_EXPECTATIONS_DIR"]))
    indicator = next(r for r in catalog if r.pipeline.target.qualified == "base_macro_economy.indicator").dag_id
    base_dags = [INPUT, indicator]
    stack.unpause([THEME])
    since = dt.datetime.now(dt.timezone.utc)

    runs = {}  # triggered while paused (queued), then unpaused: a paused DAG's runs do not start
    with stack.client() as api:
        for dag_id in base_dags:
            response = api.post(f"/dags/{dag_id}/dagRuns",
                                json={"dag_run_id": f"celery_proof__{dag_id}", "logical_date": LOGICAL_DATE})
            assert response.status_code == 200, response.text
            runs[dag_id] = response.json()["dag_run_id"]
    stack.unpause(base_dags)

    finished = _wait_runs_done(stack, runs)
    worker_log = Path(worker.log).read_text(errors="replace")
    with stack.client() as api:
        for dag_id, run in finished.items():
            tis = api.get(f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances",
                          params={"limit": 100}).raise_for_status().json()["task_instances"]
            failed = {ti["task_id"]: ti["state"] for ti in tis if ti["state"] != "success"}
            assert run["state"] == "success" and not failed, (
                f"{dag_id} {run['dag_run_id']} ended {run['state']}; tasks not successful: {failed}; "
                f"worker log tail:\n{worker_log[-3000:]}")
            assert run["run_type"] == "manual" and len(tis) >= 2
            for ti in tis:
                # the scheduler queued it on this run's queue, which only our worker serves; the
                # task runner recorded the worker machine's hostname
                assert ti["queue"] == queue and ti["hostname"], ti
                # the worker's own log names the task it executed (Airflow's execute_workload)
                assert re.search(rf"Executing workload in Celery: .*task_id='{re.escape(ti['task_id'])}'.*"
                                 rf"dag_id='{re.escape(dag_id)}'.*run_id='{re.escape(run['dag_run_id'])}'",
                                 worker_log), f"{dag_id}.{ti['task_id']} not in {worker.log}"
            # the Celery result backend (on the metadata DB) has each task instance's Celery task: SUCCESS
            rows = _metadata_rows(
                metadata,
                "SELECT ti.task_id, ti.external_executor_id, m.status FROM task_instance ti "
                "LEFT JOIN celery_taskmeta m ON m.task_id = ti.external_executor_id "
                "WHERE ti.dag_id = %s AND ti.run_id = %s", (dag_id, run["dag_run_id"]))
            assert len(rows) == len(tis) and all(status == "SUCCESS" for _, _, status in rows), rows

    # the scheduler started the theme because the population library's Asset was updated
    theme_run = stack.wait_for_asset_runs([THEME], since=since, timeout=600)[THEME]
    assert theme_run["run_type"] == "asset_triggered" and theme_run["triggered_by"] == "asset"
    assert theme_run["state"] == "success" and theme_run["load_state"] == "success"
    loads = dict(dbs.query("SELECT dag_id, status FROM ops.load_run WHERE run_id = %s", (theme_run["dag_run_id"],)))
    assert loads == {THEME: "success"}
    # the warehouse has the loads: our runs' records, and every row (unpausing also started each base
    # DAG's latest scheduled run, which may have loaded the rows before ours: catchup=False)
    for dag_id, run_id in runs.items():
        assert dbs.query("SELECT status FROM ops.load_run WHERE dag_id = %s AND run_id = %s",
                         (dag_id, run_id)) == [("success",)], dag_id
    assert dbs.scalar("SELECT count(*) FROM base_population.person_current") == 300
    assert dbs.scalar("SELECT count(*) FROM base_macro_economy.indicator_current") == len(macro_economy.INDICATORS)
    for dag_id, table in ((INPUT, "base_population.person_current"), (indicator, "base_macro_economy.indicator_current")):
        loaded = dbs.scalar("SELECT sum(rows_inserted) FROM ops.load_run WHERE dag_id = %s", (dag_id,))
        assert loaded == dbs.scalar(f"SELECT count(*) FROM {table}"), dag_id

    # `make demo` after a `make up` on the same metadata database pauses everything the scheduler would
    # otherwise run beside its test runs; `make up` unpauses them all again
    with stack.client() as api:
        known = {d["dag_id"] for d in api.get("/dags", params={"limit": 1000}).raise_for_status().json()["dags"]}
    assert set(stack.pause_all()) == {THEME, *base_dags}
    assert stack.pause_all() == []
    assert set(stack.unpause_all()) == known

    pids = {p.pid for p in started}
    stack.stop()
    assert _session_members(pids) == [], "processes of the deployment's sessions are left"
    assert all(not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
               for pid in pids)
