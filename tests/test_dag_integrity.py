"""Every DAG file parses, every catalog entry has its DAG, and parsing stays light."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PARSE_PROBE = """
import json, sys, time
import airflow.sdk  # the DAG processor has this loaded already; measure what the DAG files add
before = set(sys.modules)
from airflow.dag_processing.dagbag import DagBag
start = time.perf_counter()
bag = DagBag(sys.argv[1])
seconds = time.perf_counter() - start
heavy = sorted(m for m in ("great_expectations", "pandas", "pyarrow", "psycopg2", "numpy")
               if m in sys.modules and m not in before)
dags = {}
for dag_id, dag in bag.dags.items():
    tasks = {t.task_id: {"downstream": sorted(t.downstream_task_ids), "retries": t.retries,
                         "outlets": [getattr(o, "name", None) for o in t.outlets]} for t in dag.tasks}
    dags[dag_id] = {"tasks": tasks, "max_active_runs": dag.max_active_runs,
                    "timetable": type(dag.timetable).__name__, "params": list(dag.params.keys())}
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags,
                  "seconds": seconds, "heavy": heavy}))
"""


@pytest.fixture(scope="module")
def parsed() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([sys.executable, "-c", PARSE_PROBE, str(ROOT / "dags")], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


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
