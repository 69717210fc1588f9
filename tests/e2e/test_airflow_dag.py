"""The population DAG run through Airflow itself (``airflow dags test``), as the demo does."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from baselib_simulators import population as sim
from tests.conftest import AS_OF
from tests.e2e.airflow_cli import airflow, airflow_env, migrate

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    migrate(airflow_env(home))
    return home


def _dags_test(home: Path, dag_id: str, date: str, conf: str | None = None) -> subprocess.CompletedProcess:
    cmd = [airflow(), "dags", "test", dag_id, date] + (["-c", conf] if conf else [])
    return subprocess.run(cmd, env=airflow_env(home), capture_output=True, text=True, timeout=900, cwd=ROOT)


def test_population_dag_runs_through_airflow(dbs, population, airflow_home):
    conn = dbs.source()
    simulated = sim.create(conn, rows=3000, seed=5, as_of=AS_OF)
    conn.close()

    done = _dags_test(airflow_home, population.dag_id, "2026-11-02")

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    run_id, status, mode, extracted, inserted, quarantined, start, end = dbs.query(
        "SELECT run_id, status, mode, rows_extracted, rows_inserted, rows_quarantined, "
        "data_interval_start, data_interval_end FROM ops.load_run")[0]
    assert run_id.startswith("manual__") and status == "success" and mode == "full"
    assert extracted == simulated.rows and inserted + quarantined == extracted
    assert (end - start).total_seconds() == 86_400  # CronDataIntervalTimetable gave a real interval
    assert dbs.scalar("SELECT count(*) FROM base_population.person_current") == inserted
    assert dbs.scalar("SELECT count(*) FROM evaluation.sync_metrics") == 1

    # a second run of the same date through Airflow changes nothing
    before = dbs.query("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM base_population.person_history t")
    again = _dags_test(airflow_home, population.dag_id, "2026-11-02")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert dbs.query("SELECT rows_inserted, rows_updated FROM ops.load_run ORDER BY load_id DESC LIMIT 1") == [(0, 0)]
    assert dbs.query("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM base_population.person_history t") == before


def test_blocked_run_fails_the_dag_run_and_loads_nothing(dbs, population, airflow_home):
    conn = dbs.source()
    sim.create(conn, rows=1000, seed=6, as_of=AS_OF, rates={k: 0.05 for k in sim.DEFECTS})
    conn.close()

    done = _dags_test(airflow_home, population.dag_id, "2026-11-02")

    assert done.returncode != 0
    assert "quarantine_threshold" in done.stdout + done.stderr
    assert dbs.scalar("SELECT status FROM ops.load_run") == "blocked"
    assert dbs.scalar("SELECT count(*) FROM base_population.person") == 0
    assert dbs.scalar("SELECT count(*) FROM ops.quarantine") > 0  # officers still see why


def test_file_drop_dags_run_through_airflow(dbs, airflow_home, tmp_path, monkeypatch):
    """The statistics bureau's drop through the generated DAGs: indicators, then values; a second
    run of the same date finds every file already loaded."""
    from baselib_simulators import macro_economy

    landing = tmp_path / "landing"
    drop = macro_economy.write_drop(landing, seed=21)
    monkeypatch.setenv("BASELIB_LANDING_URL", landing.as_uri())

    for dag_id in ("base_macro_economy__indicator", "base_macro_economy__indicator_value"):
        done = _dags_test(airflow_home, dag_id, "2026-11-02")
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    status, extracted, inserted, rejected = dbs.query(
        "SELECT status, rows_extracted, rows_inserted, files_rejected FROM ops.load_run "
        "WHERE dag_id = 'base_macro_economy__indicator_value'")[0]
    assert status == "success" and extracted == drop.rows_total and inserted == drop.rows_clean
    assert rejected == len(drop.rejected_files)
    assert dbs.scalar("SELECT files_delivered FROM evaluation.sync_metrics m JOIN ops.load_run r USING (load_id) "
                      "WHERE r.dag_id = 'base_macro_economy__indicator_value'") > rejected

    again = _dags_test(airflow_home, "base_macro_economy__indicator_value", "2026-11-02")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert dbs.query("SELECT rows_extracted, files_new, files_unchanged FROM ops.load_run "
                     "WHERE dag_id = 'base_macro_economy__indicator_value' ORDER BY load_id DESC LIMIT 1") == \
        [(0, 0, dbs.scalar("SELECT count(*) FROM ops.file_delivery WHERE status = 'loaded' "
                           "AND resource_code = '104001/000002'"))]


def test_a_broken_entry_fails_only_its_placeholder(dbs, population, airflow_home, tmp_path, monkeypatch):
    """A typo in the legal-entity entry: its placeholder DAG fails with the file, field and message;
    the population DAG still runs through Airflow."""
    import shutil

    entries = tmp_path / "catalog"
    shutil.copytree(ROOT / "include" / "catalog", entries)
    broken = entries / "base_legal_entity_legal_entity.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("update_cycle: 每日", "update_cycle: 每曰"),
                      encoding="utf-8")
    monkeypatch.setenv("BASELIB_CATALOG_DIR", str(entries))

    failed = _dags_test(airflow_home, "catalog_error__base_legal_entity_legal_entity", "2026-11-02")

    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert str(broken) in output and "field 'update_cycle'" in output and "每曰" in output

    conn = dbs.source()
    simulated = sim.create(conn, rows=500, seed=7, as_of=AS_OF)
    conn.close()
    done = _dags_test(airflow_home, population.dag_id, "2026-11-02")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert dbs.scalar("SELECT rows_extracted FROM ops.load_run") == simulated.rows
