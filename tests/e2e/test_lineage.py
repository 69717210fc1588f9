"""OpenLineage events from the official provider, captured with its file transport, for a base
DAG (department table → base table) and a theme DAG (input tables → theme table), both run
through Airflow (``airflow dags test``)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from baselib_simulators import population as sim
from tests.conftest import AS_OF
from tests.e2e.airflow_cli import airflow, airflow_env, migrate

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "themes"
pytestmark = pytest.mark.airflow

WAREHOUSE = "postgres://warehouse:5432"


@pytest.fixture
def lineage_env(dbs, tmp_path, monkeypatch) -> tuple[dict, Path]:
    """Airflow (SQLite metadata, fresh home) with the OpenLineage file transport, reading a
    catalog of the population entry and the fixture theme."""
    catalog, expectations = tmp_path / "catalog", tmp_path / "expectations"
    catalog.mkdir()
    expectations.mkdir()
    shutil.copy(ROOT / "include" / "catalog" / "base_population_person.yaml", catalog)
    shutil.copy(ROOT / "expectations" / "base_population.person.json", expectations)
    for path in (FIXTURES / "catalog").glob("*.yaml"):
        shutil.copy(path, catalog)
    for path in (FIXTURES / "expectations").glob("*.json"):
        shutil.copy(path, expectations)
    events = tmp_path / "openlineage.jsonl"
    home = tmp_path / "airflow_home"
    env = airflow_env(
        home,
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
        AIRFLOW__OPENLINEAGE__NAMESPACE="baselib-test",
        BASELIB_CATALOG_DIR=str(catalog),
        BASELIB_EXPECTATIONS_DIR=str(expectations),
        BASELIB_MODELS_DIR=str(FIXTURES / "models"),
    )
    migrate(env)
    return env, events


def _dags_test(env: dict, dag_id: str, date: str) -> None:
    done = subprocess.run([airflow(), "dags", "test", dag_id, date], env=env, capture_output=True, text=True,
                          timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def _task_events(path: Path, job: str) -> dict[str, dict]:
    """The run events of the OpenLineage job ``job`` (``<dag_id>.<task_id>``), by event type."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("job", {}).get("name") == job:
            found[event["eventType"]] = event
    return found


def _datasets(event: dict, side: str) -> list[tuple[str, str]]:
    return sorted((d["namespace"], d["name"]) for d in event[side])


def test_base_and_theme_runs_emit_their_inputs_and_outputs(dbs, lineage_env):
    env, events = lineage_env
    conn = dbs.source()
    sim.create(conn, rows=400, seed=12, as_of=AS_OF, rates={k: 0.0 for k in sim.DEFECTS})
    conn.close()
    source = dbs.uris["dept_public_security"]  # postgresql://user@host:port/database
    host_port, database = source.split("@", 1)[-1].split("/", 1)

    _dags_test(env, "base_population__person", "2026-11-02")
    _dags_test(env, "theme_fixture__division_headcount", "2026-11-02")

    department_table = (f"postgres://{host_port}", f"{database}.{sim.SOURCE_TABLE}")
    person = (WAREHOUSE, "warehouse.base_population.person")
    theme = (WAREHOUSE, "warehouse.theme_fixture.division_headcount")

    base_extract = _task_events(events, "base_population__person.extract")
    base_load = _task_events(events, "base_population__person.load")
    assert {"START", "COMPLETE"} <= base_extract.keys() and {"START", "COMPLETE"} <= base_load.keys()
    assert _datasets(base_extract["COMPLETE"], "inputs") == [department_table]
    assert _datasets(base_extract["COMPLETE"], "outputs") == []
    assert _datasets(base_load["COMPLETE"], "inputs") == [department_table]
    assert _datasets(base_load["COMPLETE"], "outputs") == [person]

    theme_extract = _task_events(events, "theme_fixture__division_headcount.extract")
    theme_load = _task_events(events, "theme_fixture__division_headcount.load")
    assert _datasets(theme_extract["COMPLETE"], "inputs") == [person]
    assert _datasets(theme_load["COMPLETE"], "inputs") == [person]
    assert _datasets(theme_load["COMPLETE"], "outputs") == [theme]
    assert theme_load["COMPLETE"]["job"]["namespace"] == "baselib-test"
    # validate and record declare no datasets; nothing names a user or password
    assert _task_events(events, "theme_fixture__division_headcount.validate")["COMPLETE"]["outputs"] == []
    text = events.read_text(encoding="utf-8")
    assert "postgres@" not in text and "password" not in text.lower()


def test_dataset_names_match_the_asset_converter():
    """The warehouse datasets are what the postgres provider's converter makes of the load
    tasks' Asset URIs, so OpenLineage and Airflow's Assets name a table alike."""
    from airflow.providers.postgres.assets.postgres import convert_asset_to_openlineage

    from baselib.orchestration.assets import table_asset_for
    from baselib.orchestration.lineage import warehouse_dataset

    asset = table_asset_for("theme_credit.enterprise_credit_profile")
    converted = convert_asset_to_openlineage(asset, None)
    ours = warehouse_dataset("theme_credit.enterprise_credit_profile")
    assert (converted.namespace, converted.name) == (ours.namespace, ours.name)


def test_source_datasets_name_location_never_credentials(monkeypatch):
    """A department table, an API and a landing folder (local and S3) as OpenLineage datasets:
    host, port, database and path, without the user, password or token of the connection."""
    from baselib.catalog import scan_catalog
    from baselib.orchestration.lineage import source_datasets, task_lineage

    resources = scan_catalog().resources
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_PUBLIC_SECURITY", "postgresql://officer:pg-secret@db.example:6543/frontend_ps")
    monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", "http://:api-token@127.0.0.1:8766/")
    monkeypatch.setenv("BASELIB_LANDING_URL", "s3://KEY:s3-secret@exchange/drops")
    population = next(r for r in resources if r.pipeline.target.qualified == "base_population.person")
    certificates = next(r for r in resources if r.pipeline.source.kind == "http_api"
                        and r.pipeline.source.conn_id == "e_licence_api")
    landing = next(r for r in resources if r.pipeline.source.kind == "file_drop")

    named = {kind: [(d.namespace, d.name) for d in source_datasets(r)]
             for kind, r in (("postgres", population), ("http_api", certificates), ("file_drop", landing))}

    assert named["postgres"] == [("postgres://db.example:6543", f"frontend_ps.{population.pipeline.source.table}")]
    assert named["http_api"] == [("http://127.0.0.1:8766", certificates.pipeline.source.endpoint)]
    assert named["file_drop"] == [("s3://exchange", f"drops/{landing.pipeline.source.landing.strip('/')}")]
    assert not any(secret in repr(named) for secret in ("officer", "pg-secret", "api-token", "KEY", "s3-secret"))
    monkeypatch.setenv("BASELIB_LANDING_URL", "file:///srv/landing")
    assert [(d.namespace, d.name) for d in source_datasets(landing)] == \
        [("file", f"/srv/landing/{landing.pipeline.source.landing.strip('/')}")]
    lineage = task_lineage(population, "validate")
    assert lineage.inputs == [] and lineage.outputs == []
