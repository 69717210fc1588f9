"""Operations through Airflow itself (``airflow dags test``): the ``staging_housekeeping`` DAG
removes an old failed run's staging folder and keeps a young one; a pipeline DAG's task logs at
INFO carry each step's progress and the path of the run's quality report."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import zoneinfo
from pathlib import Path

import pytest

from baselib_simulators import population as sim
from tests.conftest import AS_OF
from tests.e2e.airflow_cli import airflow, airflow_env, migrate
from tests.integration.test_housekeeping import OLD, YOUNG, DAG, _conn, _run, undeletable

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    migrate(airflow_env(home))
    return home


def _dags_test(env: dict, dag_id: str, date: str) -> subprocess.CompletedProcess:
    return subprocess.run([airflow(), "dags", "test", dag_id, date], env=env, capture_output=True, text=True,
                          timeout=900, cwd=ROOT)


def _task_logs(home: Path, dag_id: str) -> str:
    """Every task log file Airflow wrote for ``dag_id`` under ``home``'s log folder."""
    return "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in sorted((home / "logs").rglob("*")) if p.is_file() and f"dag_id={dag_id}" in str(p))


def test_staging_housekeeping_dag_removes_an_old_failed_runs_folder(dbs, airflow_home, tmp_path, monkeypatch):
    staging = tmp_path / "staging"
    monkeypatch.setenv("BASELIB_STAGING_URL", staging.as_uri())  # for the runs staged here and for Airflow
    env = airflow_env(airflow_home, AIRFLOW__LOGGING__LOGGING_LEVEL="INFO")
    conn = _conn()
    try:
        old, young = _run(conn, "dag_old", "failed", OLD), _run(conn, "dag_young", "failed", YOUNG)
    finally:
        conn.close()
    assert (staging / DAG / f"load-{old}").is_dir()

    done = _dags_test(env, "staging_housekeeping", dt.datetime.now(SHANGHAI).date().isoformat())

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert not (staging / DAG / f"load-{old}").exists()
    assert (staging / DAG / f"load-{young}").is_dir()
    assert dbs.query("SELECT load_id, reason FROM ops.staging_removal") == [(old, "failed")]
    logged = done.stdout + done.stderr + _task_logs(airflow_home, "staging_housekeeping")
    assert re.search(r"staging housekeeping under \S+: 1 folder\(s\) removed \(1 file\(s\), \d+ bytes; failed 1\), "
                     r"1 kept", logged), logged[-4000:]


def test_staging_housekeeping_task_fails_naming_a_folder_it_cannot_remove(dbs, airflow_home, tmp_path, monkeypatch):
    """One old failed run's folder cannot be deleted: the other old folder still goes, and the task
    (so the DAG run, and its failure alert) fails naming the folder left behind."""
    staging = tmp_path / "staging"
    monkeypatch.setenv("BASELIB_STAGING_URL", staging.as_uri())
    env = airflow_env(airflow_home, AIRFLOW__LOGGING__LOGGING_LEVEL="INFO")
    conn = _conn()
    try:
        stuck, other = _run(conn, "dag_stuck", "failed", OLD), _run(conn, "dag_other", "failed", OLD)
    finally:
        conn.close()
    folder = staging / DAG / f"load-{stuck}"

    with undeletable(folder):
        done = _dags_test(env, "staging_housekeeping", dt.datetime.now(SHANGHAI).date().isoformat())

    logged = done.stdout + done.stderr + _task_logs(airflow_home, "staging_housekeeping")
    assert done.returncode != 0 and "DagRun failed" in done.stdout + done.stderr, logged[-4000:]
    assert re.search(r"SweepIncomplete: staging housekeeping could not remove 1 folder\(s\): "
                     + re.escape(folder.as_uri()), logged), logged[-4000:]
    assert folder.is_dir() and not (staging / DAG / f"load-{other}").exists()
    assert dbs.query("SELECT load_id, reason FROM ops.staging_removal") == [(other, "failed")]


def test_pipeline_task_logs_at_info_carry_progress_and_the_quality_report(dbs, population, airflow_home):
    conn = dbs.source()
    simulated = sim.create(conn, rows=1200, seed=7, as_of=AS_OF)
    conn.close()
    env = airflow_env(airflow_home, AIRFLOW__LOGGING__LOGGING_LEVEL="INFO", BASELIB_PROGRESS_SECONDS="0")

    done = _dags_test(env, population.dag_id, "2026-11-02")

    logged = done.stdout + done.stderr + _task_logs(airflow_home, population.dag_id)
    code = re.escape(population.code)
    rows = simulated.rows
    assert re.search(rf"{code}: extract: 1 part\(s\), {rows} rows so far, \d+ rows/s", logged), logged[-4000:]
    assert re.search(rf"{code}: extract done: 1 part\(s\), {rows} rows in [\d.]+ s \(\d+ rows/s\)", logged)
    assert re.search(rf"{code}: validate done: 1 part\(s\), {rows} rows in [\d.]+ s \(\d+ rows/s\)", logged)
    assert re.search(rf"{code}: load: COPY into the history \(first load\) done: 1 part\(s\), \d+ rows", logged)
    assert re.search(rf"{code}: load done in [\d.]+ s: COPY \d+ rows", logged)
    report = dbs.scalar("SELECT report_path FROM ops.load_run")
    assert Path(report).is_file()
    assert re.search(rf"{code}: load \d+ quality \S+ \(.+\); report: {re.escape(report)}; trend: \S+", logged)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
