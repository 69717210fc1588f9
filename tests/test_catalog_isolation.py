"""One broken catalog entry affects that resource alone, seen through Airflow's own DagBag.

Each case copies the real catalog and suites to a temporary folder (``BASELIB_CATALOG_DIR``,
``BASELIB_EXPECTATIONS_DIR``), breaks one entry, and parses the real ``dags/`` folder in a
fresh process: the other DAGs load, and a placeholder DAG named after the broken file carries
the file, the field and the message.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "include" / "catalog"
SUITES = ROOT / "expectations"

PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
dags = {dag_id: {"tags": sorted(dag.tags), "description": dag.description, "doc_md": dag.doc_md,
                 "tasks": [t.task_id for t in dag.tasks]}
        for dag_id, dag in bag.dags.items()}
heavy = sorted(m for m in ("great_expectations", "pandas", "pyarrow", "numpy") if m in sys.modules)
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags, "heavy": heavy}))
"""


def parse_dags(entries: Path, suites: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "BASELIB_CATALOG_DIR": str(entries), "BASELIB_EXPECTATIONS_DIR": str(suites)}
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "dags")], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _good_dag_ids() -> set[str]:
    """One DAG per catalog entry, plus the platform DAGs that no entry makes (the daily sharing
    reconcile, the daily returns to providers, the monthly evaluation publish, the daily staging
    housekeeping), which a broken entry must not touch either."""
    from baselib.catalog import load_catalog
    from baselib.orchestration.evaluation_dag import DAG_ID as EVALUATION_DAG_ID
    from baselib.orchestration.housekeeping_dag import DAG_ID as HOUSEKEEPING_DAG_ID
    from baselib.orchestration.quality_dag import DAG_ID as QUALITY_DAG_ID
    from baselib.orchestration.sharing_dag import DAG_ID as SHARING_DAG_ID

    return {r.dag_id for r in load_catalog()} | {SHARING_DAG_ID, QUALITY_DAG_ID, EVALUATION_DAG_ID,
                                                   HOUSEKEEPING_DAG_ID}


def _theme_readers(hidden: str | None) -> dict[str, str]:
    """File stem -> DAG id of the theme entries reading the resource whose DAG is ``hidden``: an
    input that does not load breaks the themes reading it (baselib.themes.inputs)."""
    entries = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(CATALOG.glob("*.yaml"))}
    dag_id = {stem: "{schema}__{table}".format(**e["pipeline"]["target"]) for stem, e in entries.items()}
    target = next((f"{e['pipeline']['target']['schema']}.{e['pipeline']['target']['table']}"
                   for stem, e in entries.items() if dag_id[stem] == hidden), None)
    return {stem: dag_id[stem] for stem, e in entries.items() if e["pipeline"]["source"]["kind"] == "sql_model"
            and target in {i["table"] for i in e["pipeline"]["source"]["inputs"]}}


def _set(path: Path, mutate) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutate(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _typo_in_yaml(entries: Path, suites: Path) -> None:
    path = entries / "base_legal_entity_legal_entity.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("items:", "items:\n  - name: [oops", 1), encoding="utf-8")


def _schema_error(entries: Path, suites: Path) -> None:
    _set(entries / "base_legal_entity_legal_entity.yaml", lambda d: d["items"][0].update(type="Q"))


def _duplicate_target(entries: Path, suites: Path) -> None:
    # a new file, later in sort order than the entry whose target it repeats: the new one is broken
    path = entries / "base_legal_entity_zz_copy.yaml"
    shutil.copy(entries / "base_legal_entity_legal_entity.yaml", path)
    _set(path, lambda d: d.update(code="102001/000009"))


def _missing_suite(entries: Path, suites: Path) -> None:
    _set(entries / "base_legal_entity_legal_entity.yaml",
         lambda d: d["pipeline"].update(expectation_suite="base_legal_entity.no_such_suite"))


def _unknown_expectation(entries: Path, suites: Path) -> None:
    path = suites / "base_legal_entity.legal_entity.json"
    spec = json.loads(path.read_text(encoding="utf-8"))
    spec["expectations"].append({"type": "expect_column_values_to_be_in_sett",
                                 "kwargs": {"column": "status", "value_set": ["存续"]}})
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")


def _repeated_catalog_check(entries: Path, suites: Path) -> None:
    path = suites / "base_legal_entity.legal_entity.json"
    spec = json.loads(path.read_text(encoding="utf-8"))
    spec["expectations"].append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "status"},
                                 "meta": {"reason": "状态为空 / status is missing"}})
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")


def _bad_schedule(entries: Path, suites: Path) -> None:
    _set(entries / "base_legal_entity_legal_entity.yaml", lambda d: d["pipeline"].update(schedule="0 2 * *"))


CASES = {
    # case: (how to break, broken file stem, the DAG it hides, what the message names)
    "malformed-yaml": (_typo_in_yaml, "base_legal_entity_legal_entity", "base_legal_entity__legal_entity",
                       ["invalid YAML at line"]),
    "schema-error": (_schema_error, "base_legal_entity_legal_entity", "base_legal_entity__legal_entity",
                     ["field 'items.0.type'", "Input should be"]),
    "duplicate-target": (_duplicate_target, "base_legal_entity_zz_copy", None,
                         ["field 'pipeline.target'", "base_legal_entity.legal_entity", "is already used by",
                          "base_legal_entity_legal_entity.yaml"]),
    "missing-suite": (_missing_suite, "base_legal_entity_legal_entity", "base_legal_entity__legal_entity",
                      ["field 'pipeline.expectation_suite'", "no suite file", "base_legal_entity.no_such_suite.json"]),
    "unknown-expectation": (_unknown_expectation, "base_legal_entity_legal_entity", "base_legal_entity__legal_entity",
                            ["base_legal_entity.legal_entity.json", "'expect_column_values_to_be_in_sett'",
                             "did you mean 'expect_column_values_to_be_in_set'"]),
    "repeated-catalog-check": (_repeated_catalog_check, "base_legal_entity_legal_entity",
                               "base_legal_entity__legal_entity",
                               ["field 'pipeline.expectation_suite'", "base_legal_entity.legal_entity.json",
                                "repeats a check derived from the catalog entry"]),
    "bad-schedule": (_bad_schedule, "base_legal_entity_legal_entity", "base_legal_entity__legal_entity",
                     ["field 'pipeline.schedule'", "'0 2 * *'"]),
}


@pytest.mark.parametrize("case", CASES)
def test_one_broken_entry_hides_only_its_own_dag(tmp_path, case):
    breaks, stem, hidden, names = CASES[case]
    entries, suites = tmp_path / "catalog", tmp_path / "expectations"
    shutil.copytree(CATALOG, entries)
    shutil.copytree(SUITES, suites)
    breaks(entries, suites)

    parsed = parse_dags(entries, suites)

    assert parsed["errors"] == {}
    assert parsed["heavy"] == []
    readers = _theme_readers(hidden)  # themes reading the broken resource break with it
    expected = _good_dag_ids() - {hidden} - set(readers.values())
    placeholder = f"catalog_error__{stem}"
    assert set(parsed["dags"]) == expected | {placeholder} | {f"catalog_error__{s}" for s in readers}
    dag = parsed["dags"][placeholder]
    assert "catalog-error" in dag["tags"]
    assert dag["tasks"] == ["catalog_error"]
    for text in (dag["description"], dag["doc_md"]):
        assert str(entries / f"{stem}.yaml") in text
        for name in names:
            assert name in text, (name, text)


def test_a_sound_catalog_has_no_placeholder():
    parsed = parse_dags(CATALOG, SUITES)
    assert set(parsed["dags"]) == _good_dag_ids()
    assert not any(dag_id.startswith("catalog_error__") for dag_id in parsed["dags"])


def test_the_cli_skips_a_broken_entry_and_names_it(tmp_path):
    """`make demo` starts with `python -m baselib.cli env`: a broken theme entry is reported on
    stderr and skipped, and the other resources' exports are printed (it used to stop the demo)."""
    entries, suites = tmp_path / "catalog", tmp_path / "expectations"
    shutil.copytree(CATALOG, entries)
    shutil.copytree(SUITES, suites)
    theme = entries / "theme_social_security_pension_after_death.yaml"
    raw = yaml.safe_load(theme.read_text(encoding="utf-8"))
    raw["pipeline"]["source"]["inputs"][0]["table"] = "base_population.nobody"
    theme.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    given = {f"AIRFLOW_CONN_{c}": "postgresql://nobody@127.0.0.1:1/none"  # nothing is provisioned
             for c in ("WAREHOUSE", "DEPT_PUBLIC_SECURITY", "DEPT_MARKET_REGULATION", "DEPT_HUMAN_RESOURCES")}
    env = {**os.environ, **given, "WAREHOUSE_URL": given["AIRFLOW_CONN_WAREHOUSE"],
           "PYTHONPATH": str(ROOT / "plugins"), "BASELIB_CATALOG_DIR": str(entries),
           "BASELIB_EXPECTATIONS_DIR": str(suites), "AIRFLOW_HOME": str(tmp_path / "airflow")}

    done = subprocess.run([sys.executable, "-m", "baselib.cli", "env"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)

    assert done.returncode == 0, done.stderr
    assert "export AIRFLOW_CONN_DEPT_HUMAN_RESOURCES=" in done.stdout and "export AIRFLOW_HOME=" in done.stdout
    assert "broken catalog entry, skipped" in done.stderr and theme.name in done.stderr
    assert "base_population.nobody" in done.stderr and "which the model does not read" in done.stderr
