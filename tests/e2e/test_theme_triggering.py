"""A theme refreshed by a real Airflow scheduler because its input's Asset was updated.

The api-server, dag-processor and scheduler run as processes (``baselib.orchestration.local_airflow``)
on a fresh PostgreSQL metadata database; the input (the population library) is loaded through
Airflow with ``airflow dags test``, which emits the load task's Asset; the scheduler then starts
the fixture theme (tests/fixtures/themes: division head counts over the population library)
with an asset-triggered run. A change to a few people re-triggers it, and the refresh changes
exactly the divisions those people live in.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from baselib_simulators import population as sim
from tests.conftest import AS_OF

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "themes"
THEME = "theme_fixture__division_headcount"
THEME_TABLE = "theme_fixture.division_headcount"
INPUT = "base_population__person"
pytestmark = pytest.mark.airflow


@pytest.fixture
def theme_catalog(tmp_path, monkeypatch) -> Path:
    """The population entry and the fixture theme, with their suites and the theme's model."""
    catalog, expectations = tmp_path / "catalog", tmp_path / "expectations"
    catalog.mkdir()
    expectations.mkdir()
    shutil.copy(ROOT / "include" / "catalog" / "base_population_person.yaml", catalog)
    shutil.copy(ROOT / "expectations" / "base_population.person.json", expectations)
    for entry in (FIXTURES / "catalog").glob("*.yaml"):
        shutil.copy(entry, catalog)
    for suite in (FIXTURES / "expectations").glob("*.json"):
        shutil.copy(suite, expectations)
    monkeypatch.setenv("BASELIB_CATALOG_DIR", str(catalog))
    monkeypatch.setenv("BASELIB_EXPECTATIONS_DIR", str(expectations))
    monkeypatch.setenv("BASELIB_MODELS_DIR", str(FIXTURES / "models"))
    return catalog


@pytest.fixture
def airflow_stack(dbs, theme_catalog, tmp_path):
    """A running local Airflow (api-server, dag-processor, scheduler) on its own metadata
    database; every process it started is stopped by pid afterwards, whatever happened."""
    from baselib.orchestration import local_airflow
    from baselib.warehouse import provision

    database = f"baselib_test_airflow_{os.getpid()}"
    provision.drop_database(dbs.server, database)
    env = local_airflow.environment(tmp_path / "airflow_home", local_airflow.metadata_url(dbs.server, database))
    stack = local_airflow.LocalAirflow(env)
    try:
        stack.migrate()
        stack.start()
        yield stack
    finally:
        stack.stop()
        provision.drop_database(dbs.server, database)


def _theme_runs(dbs) -> list[tuple]:
    return dbs.query("SELECT load_id, run_id, status, mode, rows_extracted FROM ops.load_run "
                     "WHERE dag_id = %s ORDER BY load_id", (THEME,))


def test_input_load_triggers_the_theme_through_the_scheduler(dbs, airflow_stack):
    stack = airflow_stack
    conn = dbs.source()
    sim.create(conn, rows=1500, seed=11, as_of=AS_OF, rates={k: 0.0 for k in sim.DEFECTS})  # every row loads
    conn.close()
    stack.unpause([THEME])
    started = dt.datetime.now(dt.timezone.utc)

    stack.run("dags", "test", INPUT, "2026-11-02", timeout=600)

    run = stack.wait_for_asset_runs([THEME], since=started, timeout=150)[THEME]
    assert run["run_type"] == "asset_triggered" and run["triggered_by"] == "asset"
    assert run["state"] == "success" and run["load_state"] == "success"
    # the theme's run record is that Airflow run, and it built one row per division
    (load_id, run_id, status, mode, extracted), = _theme_runs(dbs)
    assert (run_id, status, mode) == (run["dag_run_id"], "success", "full")
    divisions = dbs.scalar("SELECT count(DISTINCT division_code) FROM base_population.person_current")
    assert extracted == divisions == dbs.scalar(f"SELECT count(*) FROM {THEME_TABLE}_current")
    before = dict(dbs.query(f"SELECT division_code, deceased FROM {THEME_TABLE}_current"))

    # a few people die, in two divisions; the next population load re-triggers the theme
    changed = dbs.query(
        "WITH two AS (SELECT division_code FROM base_population.person_current WHERE registration_status <> '死亡' "
        "GROUP BY 1 HAVING count(*) >= 2 ORDER BY 1 LIMIT 2) "
        "SELECT p.id_number, p.division_code FROM base_population.person_current p JOIN two USING (division_code) "
        "WHERE p.registration_status <> '死亡' ORDER BY p.id_number LIMIT 3")
    affected = {division for _, division in changed}
    conn = dbs.source()
    with conn.cursor() as cur:
        cur.execute(f"UPDATE {sim.SOURCE_TABLE} SET registration_status = '死亡', updated_at = %s "
                    "WHERE id_number = ANY(%s)", (AS_OF + dt.timedelta(hours=12), [i for i, _ in changed]))
        assert cur.rowcount == len(changed) == 3
    conn.commit()
    conn.close()
    again = dt.datetime.now(dt.timezone.utc)

    stack.run("dags", "test", INPUT, "2026-11-03", timeout=600)

    second = stack.wait_for_asset_runs([THEME], since=again, timeout=150)[THEME]
    assert second["dag_run_id"] != run["dag_run_id"] and second["run_type"] == "asset_triggered"
    (_, run_id2, status2, mode2, extracted2), = _theme_runs(dbs)[1:]
    assert (run_id2, status2, mode2) == (second["dag_run_id"], "success", "incremental")
    assert extracted2 == len(affected)                                # only the affected keys were recomputed
    load_id2 = dbs.scalar("SELECT max(load_id) FROM ops.load_run WHERE dag_id = %s", (THEME,))
    opened = {r[0] for r in dbs.query(f"SELECT division_code FROM {THEME_TABLE}_history WHERE _load_id = %s",
                                      (load_id2,))}
    assert opened == affected                                         # exactly those keys changed
    after = dict(dbs.query(f"SELECT division_code, deceased FROM {THEME_TABLE}_current"))
    deaths = {d: sum(1 for _, x in changed if x == d) for d in affected}
    assert after == {d: n + deaths.get(d, 0) for d, n in before.items()}


def test_guard_skips_a_theme_until_every_input_has_loaded(dbs, theme_catalog):
    """The first task of a theme run skips it (AirflowSkipException, not a failure, the reason
    logged at WARNING) while an input has no committed load; a blocked load does not count, a load
    whose record task has not run yet (status ``loaded``: its Asset event has fired) does — the
    guard agrees with the engine's ``queries/theme_new_input_loads`` on every status."""
    import logging

    from airflow.sdk.exceptions import AirflowSkipException

    from baselib.catalog import load_catalog
    from baselib.orchestration import dag_factory
    from baselib.orchestration.assets import unloaded_inputs

    catalog = load_catalog(theme_catalog, theme_catalog.parent / "expectations")
    theme = next(r for r in catalog if r.is_theme)
    person = next(r for r in catalog if r.pipeline.target.qualified == "base_population.person")
    assert unloaded_inputs(theme, catalog) == [f"base_population.person ({person.code})"]  # no ops schema yet
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # Airflow's logging setup routes the root logger elsewhere
    logger = logging.getLogger(dag_factory.__name__)
    logger.addHandler(handler)
    try:
        with pytest.raises(AirflowSkipException, match="never loaded: base_population.person"):
            dag_factory._skip_unless_inputs_loaded(theme)
    finally:
        logger.removeHandler(handler)
    assert [r.levelno for r in records if "never loaded: base_population.person" in r.getMessage()] == [logging.WARNING]

    from baselib.warehouse import schema

    engine_sql = (ROOT / "include" / "sql" / "queries" / "theme_new_input_loads.sql").read_text()
    conn = dbs.warehouse()
    with conn.cursor() as cur:
        schema.apply_shared_ddl(cur)
    conn.commit()

    def add_run(run_id: str, status: str, rows_inserted: int | None) -> tuple[bool, bool]:
        """A load_run row of the input (alone in ops.load_run): (engine consumes it, guard counts it)."""
        with conn.cursor() as cur:
            cur.execute("DELETE FROM ops.load_run WHERE resource_code = %s", (person.code,))
            cur.execute("INSERT INTO ops.load_run (resource_code, dag_id, run_id, mode, status, rows_inserted) "
                        "VALUES (%s, %s, %s, 'full', %s, %s)", (person.code, person.dag_id, run_id, status, rows_inserted))
            conn.commit()
            cur.execute(engine_sql, {"input_codes": [person.code], "theme_code": theme.code})
            engine = bool(cur.fetchall())
        conn.commit()
        return engine, unloaded_inputs(theme, catalog) == []

    assert add_run("r1", "blocked", None) == (False, False)
    assert add_run("r2", "running", None) == (False, False)
    # the load task committed and emitted the Asset event; the record task has not run yet
    assert add_run("r3", "loaded", 5) == (True, True)
    assert add_run("r4", "failed", 5) == (True, True)  # a later step failed after the load committed
    assert add_run("r5", "success", 0) == (True, True)
    conn.close()
    dag_factory._skip_unless_inputs_loaded(theme)  # does not raise


def test_guard_fails_a_theme_whose_input_entry_is_broken(dbs, theme_catalog, monkeypatch):
    """An input whose catalog entry is broken would never load: the guard fails the run
    (AirflowFailException naming the input and the broken entry) instead of skipping it forever."""
    from airflow.sdk.exceptions import AirflowFailException

    import baselib.catalog
    from baselib.catalog import load_catalog, scan_catalog
    from baselib.errors import CatalogError
    from baselib.orchestration import dag_factory
    from baselib.orchestration.assets import unloaded_inputs

    expectations = theme_catalog.parent / "expectations"
    catalog = load_catalog(theme_catalog, expectations)
    theme = next(r for r in catalog if r.is_theme)
    with pytest.raises(CatalogError, match="input base_population.person is no loadable catalog resource"):
        unloaded_inputs(theme, [theme])

    entry = theme_catalog / "base_population_person.yaml"
    entry.write_text(entry.read_text(encoding="utf-8").replace("items:", "itemz:", 1), encoding="utf-8")
    # the guard scans the catalog directory: point it at this test's
    monkeypatch.setattr(baselib.catalog, "scan_catalog", lambda: scan_catalog(theme_catalog, expectations))
    with pytest.raises(AirflowFailException, match=r"base_population\.person is no loadable(.|\n)*base_population_person\.yaml"):
        dag_factory._skip_unless_inputs_loaded(theme)
