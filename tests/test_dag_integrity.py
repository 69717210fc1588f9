"""Every DAG file parses, every catalog entry has its DAG, theme DAGs are scheduled on their
inputs' Assets, the sharing reconcile runs daily at midnight Asia/Shanghai, and parsing stays light."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_THEMES = ROOT / "tests" / "fixtures" / "themes"
# sqlglot is not here on purpose: the DAG file parses theme models (about 0.1 s, pure Python) so
# that a broken model becomes a placeholder DAG at deploy time (test_a_broken_model_is_a_placeholder).
HEAVY = ("great_expectations", "pandas", "pyarrow", "psycopg2", "numpy")

PARSE_PROBE = """
import json, sys, time
import airflow.sdk  # the DAG processor has this loaded already; measure what the DAG files add
before = set(sys.modules)
from airflow.dag_processing.dagbag import DagBag
start = time.perf_counter()
bag = DagBag(sys.argv[1])
seconds = time.perf_counter() - start
heavy = sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules and m not in before)
dags = {}
for dag_id, dag in bag.dags.items():
    tasks = {t.task_id: {"downstream": sorted(t.downstream_task_ids), "retries": t.retries,
                         "outlets": [getattr(o, "name", None) for o in t.outlets]} for t in dag.tasks}
    condition = getattr(dag.timetable, "asset_condition", None)
    dags[dag_id] = {"tasks": tasks, "max_active_runs": dag.max_active_runs, "tags": sorted(dag.tags),
                    "timetable": type(dag.timetable).__name__, "params": list(dag.params.keys()),
                    "mode_enum": (dag.params.get_param("mode").schema.get("enum") if "mode" in dag.params else None),
                    "condition": type(condition).__name__ if condition is not None else None,
                    "cron": [str(getattr(dag.timetable, "expression", "")), str(getattr(dag.timetable, "timezone", ""))],
                    "catchup": dag.catchup,
                    "assets": [[a.name, a.uri] for a in getattr(condition, "objects", [])]}
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags,
                  "seconds": seconds, "heavy": heavy}))
"""


def _parse(**overrides: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **overrides}
    out = subprocess.run([sys.executable, "-c", PARSE_PROBE, str(ROOT / "dags"), json.dumps(HEAVY)],
                         capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parsed() -> dict:
    return _parse()


@pytest.fixture(scope="module")
def theme_fixture_catalog(tmp_path_factory) -> dict[str, str]:
    """Environment for a catalog of the population entry and the fixture theme reading it."""
    import shutil

    root = tmp_path_factory.mktemp("theme_catalog")
    catalog, expectations = root / "catalog", root / "expectations"
    catalog.mkdir()
    expectations.mkdir()
    shutil.copy(ROOT / "include" / "catalog" / "base_population_person.yaml", catalog)
    shutil.copy(ROOT / "expectations" / "base_population.person.json", expectations)
    for path in (FIXTURE_THEMES / "catalog").glob("*.yaml"):
        shutil.copy(path, catalog)
    for path in (FIXTURE_THEMES / "expectations").glob("*.json"):
        shutil.copy(path, expectations)
    return {"BASELIB_CATALOG_DIR": str(catalog), "BASELIB_EXPECTATIONS_DIR": str(expectations),
            "BASELIB_MODELS_DIR": str(FIXTURE_THEMES / "models")}


@pytest.fixture(scope="module")
def theme_parsed(theme_fixture_catalog) -> dict:
    return _parse(**theme_fixture_catalog)


def test_dag_files_parse_without_import_errors(parsed):
    assert parsed["errors"] == {}


def test_every_catalog_entry_has_a_dag(parsed):
    from baselib.catalog import load_catalog

    assert {r.dag_id for r in load_catalog()} <= set(parsed["dags"])


def test_each_dag_is_extract_validate_load_record(parsed, population):
    dag = parsed["dags"][population.dag_id]
    tasks = dag["tasks"]
    assert tasks["extract"]["downstream"] == ["validate"]
    assert tasks["validate"]["downstream"] == ["load"]
    assert tasks["load"]["downstream"] == ["record"]
    assert tasks["record"]["downstream"] == []
    assert tasks["extract"]["retries"] == population.pipeline.retries > 0   # source errors retry
    assert tasks["validate"]["retries"] == 0                                 # quality failures do not
    assert tasks["load"]["outlets"] == [population.pipeline.target.qualified]
    assert dag["max_active_runs"] == 1
    assert dag["timetable"] == "CronDataIntervalTimetable"
    assert "mode" in dag["params"]


def test_parsing_is_fast_and_imports_nothing_heavy(parsed):
    assert parsed["heavy"] == [], f"DAG parsing imported {parsed['heavy']}"
    assert parsed["seconds"] < 2.0


def _expected_assets(theme) -> list[list[str]]:
    return [[i.table, "postgres://warehouse:5432/warehouse/" + i.table.replace(".", "/")]
            for i in theme.pipeline.source.inputs]


def test_theme_dags_are_scheduled_on_their_inputs_assets(parsed, theme_parsed, theme_fixture_catalog, monkeypatch):
    """Every theme DAG (the fixture's and the catalog's own) runs on AssetAny over exactly the
    Assets its inputs' load tasks emit; one run at a time; tagged theme-library; extract first."""
    from baselib.catalog import scan_catalog

    themes = [(parsed, r) for r in scan_catalog().resources if r.is_theme]
    monkeypatch.setenv("BASELIB_MODELS_DIR", theme_fixture_catalog["BASELIB_MODELS_DIR"])
    themes[:0] = [(theme_parsed, r) for r in scan_catalog(Path(theme_fixture_catalog["BASELIB_CATALOG_DIR"]),
                                                          Path(theme_fixture_catalog["BASELIB_EXPECTATIONS_DIR"])).resources
                  if r.is_theme]
    assert themes and themes[0][1].dag_id == "theme_fixture__division_headcount"
    for bag, theme in themes:
        dag = bag["dags"][theme.dag_id]
        assert dag["timetable"] == "AssetTriggeredTimetable" and dag["condition"] == "AssetAny"
        assert dag["assets"] == _expected_assets(theme)
        emitted = {name for d in bag["dags"].values() for name in d["tasks"].get("load", {}).get("outlets", [])}
        # scan_catalog moves a theme with a broken input to its errors, so every input here has a DAG
        assert {name for name, _ in dag["assets"]} <= emitted, f"{theme.dag_id}: an input Asset no load task emits"
        assert dag["max_active_runs"] == 1 and "theme-library" in dag["tags"] and "base-library" not in dag["tags"]
        assert list(dag["tasks"]) == ["extract", "validate", "load", "record"]
        assert dag["tasks"]["load"]["outlets"] == [theme.pipeline.target.qualified]
        assert dag["mode_enum"] == ["auto", "full", "reconcile"]


def test_theme_dag_parsing_imports_nothing_heavy(theme_parsed):
    """With a theme in the catalog, parsing still imports no pandas, GX, pyarrow, numpy or psycopg2."""
    assert theme_parsed["errors"] == {}
    assert "theme_fixture__division_headcount" in theme_parsed["dags"]
    assert theme_parsed["heavy"] == [], f"DAG parsing imported {theme_parsed['heavy']}"
    assert theme_parsed["seconds"] < 2.0


def test_a_broken_model_is_a_placeholder(theme_fixture_catalog, tmp_path):
    """A theme whose model reads a table it does not declare is a catalog-error placeholder DAG
    at parse time, naming the model's problem; the population DAG beside it is unaffected."""
    import shutil

    models = tmp_path / "models"
    shutil.copytree(theme_fixture_catalog["BASELIB_MODELS_DIR"], models)
    model = next(models.glob("*.sql"))
    model.write_text(model.read_text(encoding="utf-8").replace(
        "FROM base_population.person_current AS r", "FROM base_population.person_elsewhere AS r"), encoding="utf-8")

    bag = _parse(**{**theme_fixture_catalog, "BASELIB_MODELS_DIR": str(models)})

    assert bag["errors"] == {}
    assert "theme_fixture__division_headcount" not in bag["dags"]
    placeholder = bag["dags"]["catalog_error__theme_fixture_division_headcount"]
    assert "catalog-error" in placeholder["tags"] and list(placeholder["tasks"]) == ["catalog_error"]
    assert "base_population__person" in bag["dags"]


def test_sharing_reconcile_runs_daily_at_midnight_in_shanghai(parsed):
    """apply_consumers -> expire_applications -> reconcile_grants -> collect_usage, on a cron
    trigger at 00:00 Asia/Shanghai (when periods end and renewals start), one run
    at a time, no catch-up; parsing it imports nothing heavy (test_parsing_is_fast_and_imports_nothing_heavy
    covers the whole dags folder, this file included)."""
    dag = parsed["dags"]["sharing_reconcile"]
    tasks = dag["tasks"]
    assert list(tasks) == ["apply_consumers", "expire_applications", "reconcile_grants", "collect_usage"]
    assert tasks["apply_consumers"]["downstream"] == ["expire_applications"]
    assert tasks["expire_applications"]["downstream"] == ["reconcile_grants"]
    assert tasks["reconcile_grants"]["downstream"] == ["collect_usage"]
    assert tasks["collect_usage"]["downstream"] == []
    assert dag["timetable"] == "CronTriggerTimetable"
    assert dag["cron"] == ["0 0 * * *", "Asia/Shanghai"]
    assert dag["max_active_runs"] == 1 and dag["catchup"] is False
    assert "sharing" in dag["tags"]


def _shanghai(y, m, d, h=0, minute=30):
    import datetime as dt
    import zoneinfo

    return dt.datetime(y, m, d, h, minute, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize("run_type, logical, now, day", [
    # the midnight run of 2 November (here running until 00:31) measures 1 November, the day that ended
    ("scheduled", (2026, 11, 2), (2026, 11, 2, 0, 31), (2026, 11, 1)),
    ("scheduled", (2026, 11, 2), (2026, 11, 2, 23, 59), (2026, 11, 1)),   # late, same day
    ("scheduled", (2026, 11, 2), (2026, 11, 3, 9, 0), None),              # retried the next day: not that day's
    ("manual", (2026, 10, 30, 8, 0), (2026, 11, 2, 9, 0), None),          # a manual run for a past date
    ("manual", (2026, 11, 2, 15, 0), (2026, 11, 2, 15, 1), (2026, 11, 2)),  # the use so far of its day
    ("backfill", (2026, 11, 2), (2026, 11, 2, 0, 31), None),
    ("backfill", (2026, 10, 1), (2026, 11, 2, 0, 31), None),
])
def test_sharing_usage_is_filed_under_the_day_it_measures(run_type, logical, now, day):
    import datetime as dt

    from baselib.orchestration.sharing_dag import usage_day

    expected = dt.date(*day) if day else None
    assert usage_day(run_type, _shanghai(*logical), _shanghai(*now)) == expected
    assert usage_day("manual", None, _shanghai(2026, 11, 2, 15)) == dt.date(2026, 11, 2)


def test_a_backfilled_run_skips_collect_usage_with_a_log_line(caplog, monkeypatch):
    """Nothing is read or written: the task does not even connect."""
    import logging

    from baselib.orchestration import sharing_dag

    def no_connection():
        raise AssertionError("a skipped collection connected to the warehouse")

    monkeypatch.setattr(sharing_dag, "_connect", no_connection)
    with caplog.at_level(logging.INFO, logger=sharing_dag.__name__):
        result = sharing_dag.collect_usage("backfill__2026-10-01", skip_reason="a backfill run for 2026-10-01")
    assert result == {"skipped": "a backfill run for 2026-10-01"}
    assert "measured use not collected by this run: a backfill run for 2026-10-01" in caplog.text


def test_quality_returns_runs_daily_at_eight_in_shanghai(parsed):
    """list_providers -> drop_return (mapped per provider) -> summarize; the summary runs when no
    provider has anything (no mapped instance), one run at a time, no catch-up."""
    dag = parsed["dags"]["quality_returns"]
    tasks = dag["tasks"]
    assert list(tasks) == ["list_providers", "drop_return", "summarize"]
    assert tasks["list_providers"]["downstream"] == ["drop_return"]
    assert tasks["drop_return"]["downstream"] == ["summarize"]
    assert dag["timetable"] == "CronTriggerTimetable"
    assert dag["cron"] == ["0 8 * * *", "Asia/Shanghai"]
    assert dag["max_active_runs"] == 1 and dag["catchup"] is False
    assert "quality" in dag["tags"]


def test_staging_housekeeping_runs_daily_at_three_in_shanghai(parsed):
    """One task, sweep_staging, at 03:00 Asia/Shanghai, one run at a time, no catch-up, with a
    dry_run and a retention_days param."""
    dag = parsed["dags"]["staging_housekeeping"]
    assert list(dag["tasks"]) == ["sweep_staging"]
    assert dag["timetable"] == "CronTriggerTimetable"
    assert dag["cron"] == ["0 3 * * *", "Asia/Shanghai"]
    assert dag["max_active_runs"] == 1 and dag["catchup"] is False
    assert "housekeeping" in dag["tags"]
    assert set(dag["params"]) == {"dry_run", "retention_days"}


def test_evaluation_publish_runs_monthly_on_the_first_at_two_in_shanghai(parsed):
    """compute -> publish (mapped per period), on the 1st of each month at 02:00 Asia/Shanghai."""
    dag = parsed["dags"]["evaluation_publish"]
    tasks = dag["tasks"]
    assert list(tasks) == ["compute", "publish"]
    assert tasks["compute"]["downstream"] == ["publish"]
    assert dag["timetable"] == "CronTriggerTimetable"
    assert dag["cron"] == ["0 2 1 * *", "Asia/Shanghai"]
    assert dag["max_active_runs"] == 1 and dag["catchup"] is False
    assert "evaluation" in dag["tags"]
