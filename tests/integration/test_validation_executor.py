"""The validation executor against real PostgreSQL: which rows an incremental, reconcile or full
run checks (changed rows only), duplicate keys across changed and unchanged copies, and the
per-load quality report (GX-shaped JSON and offline HTML)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from baselib import pipeline, storage
from baselib.settings import REPORTS_DIR
from baselib.validation import report
from tests.conftest import DAY1, DAY2, UTC
from tests.integration.pipeline_helpers import (assert_accounted, catalog_entry, change_source, fill_source, run,
                                                run_info, validated)

HIGH_RATES = {"bad_check_character": 0.02, "birth_date_mismatch": 0.01, "missing_name": 0.01}
AT = dt.datetime(2026, 11, 2, 8, tzinfo=UTC)


def _result(validate_output: dict) -> dict:
    return json.loads((Path(validate_output["report"]).parent / report.JSON_NAME).read_text(encoding="utf-8"))


def _finish(resource, validate_output: dict) -> dict:
    return pipeline.record(resource, pipeline.load(resource, validate_output))


def test_an_incremental_rerun_with_one_changed_row_checks_that_row_only(dbs, population):
    fill_source(dbs, rows=400, rates={})  # no defects: every re-read row of the look-back loaded on day 1
    first = run(population, DAY1)
    changed = change_source(dbs, at=AT, changed=1)["changed"]

    out = validated(population, DAY2)
    rows = _result(out)["meta"]["rows"]

    assert out["mode"] == "incremental"
    assert rows["checked"] == 1 and rows["skipped_unchanged"] == out["rows"] - 1
    assert out["rows_skipped_unchanged"] == out["rows"] - 1
    summary = _finish(population, out)
    assert_accounted(summary)
    assert (summary["rows_updated"], summary["rows_inserted"]) == (1, 0)
    assert dbs.scalar("SELECT address FROM base_population.person WHERE id_number = %s", (changed[0],)).endswith("（变更）")
    assert first["rows_inserted"] == dbs.scalar("SELECT count(*) FROM base_population.person")


def test_a_reconcile_checks_only_changed_rows_and_a_full_run_checks_all(dbs, population):
    fill_source(dbs, rows=400, rates=HIGH_RATES)
    first = run(population, DAY1)
    change_source(dbs, at=AT, changed=3)

    recon = validated(population, DAY2, mode="reconcile")
    assert recon["mode"] == "reconcile"
    # the quarantined rows of day 1 were never loaded, so they are not unchanged: checked again
    assert recon["rows_skipped_unchanged"] == first["rows_inserted"] - 3
    assert _result(recon)["meta"]["rows"]["checked"] == recon["rows"] - recon["rows_skipped_unchanged"]
    assert recon["rows_quarantined"] == first["rows_quarantined"]
    summary = _finish(population, recon)
    assert_accounted(summary)
    assert (summary["rows_updated"], summary["rows_unchanged"]) == (3, first["rows_inserted"] - 3)

    full = validated(population, DAY2, mode="full")
    assert full["mode"] == "full" and full["rows_skipped_unchanged"] == 0
    assert _result(full)["meta"]["rows"]["checked"] == full["rows"] == recon["rows"]
    assert full["rows_quarantined"] == first["rows_quarantined"]
    assert_accounted(_finish(population, full))


def test_a_duplicate_key_with_one_unchanged_copy_quarantines_both_copies(dbs, population):
    fill_source(dbs, rows=300)
    first = run(population, DAY1)
    conn = dbs.source()
    try:
        with conn.cursor() as cur:  # a second copy of a loaded person, with another address, changed today
            cur.execute("SELECT id_number FROM frontend.population_person WHERE name IS NOT NULL "
                        "AND NOT EXISTS (SELECT 1 FROM simulator.injected_defect d "
                        "WHERE d.id_number = frontend.population_person.id_number) ORDER BY row_id LIMIT 1")
            key = cur.fetchone()[0]
            cur.execute("INSERT INTO frontend.population_person (id_number, name, sex, ethnicity, birth_date, "
                        "division_code, address, registration_status, updated_at) SELECT id_number, name, sex, "
                        "ethnicity, birth_date, division_code, address || '（另一份）', registration_status, %s "
                        "FROM frontend.population_person WHERE id_number = %s", (AT, key))
        conn.commit()
    finally:
        conn.close()
    loaded = dbs.scalar("SELECT count(*) FROM base_population.person")

    out = validated(population, DAY2, mode="reconcile")

    assert out["rows_skipped_unchanged"] == loaded - 1  # every loaded person but the duplicated one
    assert out["rows_quarantined"] == first["rows_quarantined"] + 2  # day 1's rejects again, and both copies
    summary = _finish(population, out)
    assert_accounted(summary)
    copies = dbs.query("SELECT source_row->>'address', reason FROM ops.quarantine WHERE record_key = %s "
                       "AND last_load_id = %s", (key, out["load_id"]))
    assert len(copies) == 2 and all("主键(id_number)在本次抽取中重复" in reason for _, reason in copies)
    assert sum(address.endswith("（另一份）") for address, _ in copies) == 1


def test_the_report_is_one_gx_shaped_result_and_one_offline_page_per_load(dbs, population):
    simulated = fill_source(dbs, rows=1000, rates=HIGH_RATES)
    summary = run(population, DAY1)
    page = Path(summary["report_path"])

    assert page == REPORTS_DIR / population.dag_id / f"load-{summary['load_id']}" / "index.html"
    assert page.is_file()
    result = json.loads((page.parent / "validation_result.json").read_text(encoding="utf-8"))
    meta = result["meta"]
    assert result["success"] is False
    assert meta["data_asset_name"] == "base_population.person"
    assert meta["provider"] == {"name": population.provider.name, "code": population.provider.code}
    assert meta["expectation_suite_name"] == population.pipeline.expectation_suite
    assert meta["run_id"]["run_name"] == f"load-{summary['load_id']}"
    assert meta["rows"]["extracted"] == meta["rows"]["checked"] == simulated.rows
    assert meta["rows"]["quarantined"] == summary["rows_quarantined"]
    assert meta["fallback_types"] == []  # every type of this suite has a fast path
    by_type = {}
    for entry in result["results"]:
        config = entry["expectation_config"]
        assert set(config) == {"type", "kwargs", "meta", "severity"}
        assert set(entry["result"]) >= {"element_count", "unexpected_count", "unexpected_percent",
                                        "partial_unexpected_list"}
        by_type.setdefault(config["type"], []).append(entry)
    [citizen_id] = by_type["expect_column_values_to_be_valid_citizen_id"]
    bad = simulated.defects["bad_check_character"]
    assert citizen_id["success"] is False and citizen_id["result"]["unexpected_count"] == bad
    assert citizen_id["result"]["element_count"] == simulated.rows
    assert citizen_id["expectation_config"]["meta"]["dimension"] == "normative"
    samples = citizen_id["result"]["partial_unexpected_list"]
    assert len(samples) == min(5, bad)
    injected = {r[0] for r in dbs.query("SELECT id_number FROM simulator.injected_defect", db="source")}
    for sample in samples:  # id_number is personal: masked in the key and in the values
        assert "*" in sample["key"] and sample["key"] not in injected
        assert sample["values"]["id_number"] == sample["key"]
    # the duplicate-key check keeps its parameter reference, never the key hashes
    [duplicate] = [e for e in by_type["expect_column_values_to_not_be_in_set"]
                   if e["expectation_config"]["kwargs"]["column"] == "_key"]
    assert duplicate["expectation_config"]["kwargs"]["value_set"] == {"$PARAMETER": "duplicate_keys"}
    engine = {e["expectation_config"]["type"]: e for e in result["results"]
              if e["expectation_config"]["meta"]["origin"] == "engine"}
    assert set(engine) == {"empty_extract", "row_count_collapse", "max_deleted_share", "quarantine_threshold"}
    assert all(e["success"] for e in engine.values())
    dims = meta["dimensions"]
    assert set(dims) == {"normative", "complete", "accurate", "consistent", "timely", "accessible"}
    assert dims["timely"]["pass_rate"] is None and 0 < dims["normative"]["pass_rate"] < 1
    consistent = [e for e in result["results"] if e["expectation_config"]["meta"]["dimension"] == "consistent"]
    assert dims["consistent"]["failed"] == sum(e["result"]["unexpected_count"] for e in consistent)
    assert result["statistics"]["evaluated_expectations"] == len(result["results"])

    html = page.read_text(encoding="utf-8")
    assert population.provider.name in html and "规范性" in html and "Failed checks" in html
    assert citizen_id["expectation_config"]["meta"]["reason"] in html
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert not [key for key in injected if key and key in html]
    assert dbs.scalar("SELECT report_path FROM ops.load_run WHERE load_id = %s", (summary["load_id"],)) == str(page)


def test_a_rerun_of_the_validate_step_replaces_its_report(dbs, population):
    fill_source(dbs, rows=200)
    extracted = pipeline.extract(population, run_info(population, DAY1))
    first = pipeline.validate(population, extracted)
    again = pipeline.validate(population, extracted)
    assert first["report"] == again["report"]
    assert len(list(Path(again["report"]).parent.iterdir())) == 2


def test_a_type_without_a_fast_path_is_judged_by_gx_alone(dbs, population, tmp_path):
    from baselib.settings import EXPECTATIONS_DIR
    from baselib.validation import executor, plan, vectorised

    unsupported = "expect_column_values_to_be_json_parseable"
    assert unsupported not in vectorised.SUPPORTED
    spec = json.loads((EXPECTATIONS_DIR / "base_population.person.json").read_text(encoding="utf-8"))
    spec["expectations"] += [
        # sex codes "1"/"2" are JSON numbers: passes; names are not JSON: every named row is warned
        {"type": unsupported, "kwargs": {"column": "sex"}, "severity": "critical", "meta": {"reason": "sex as JSON"}},
        {"type": unsupported, "kwargs": {"column": "name"}, "severity": "warning", "meta": {"reason": "name as JSON"}},
    ]
    (tmp_path / "base_population.person.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    fill_source(dbs, rows=300, rates=HIGH_RATES)
    extracted = pipeline.extract(population, run_info(population, DAY1))
    checks = plan.compile(population, tmp_path)

    result = executor.execute(checks, population, extracted)

    assert result.fallback_types == [unsupported]
    by_reason = {r.check.reason: r for r in result.results if r.check.type == unsupported}
    assert by_reason["sex as JSON"].success and by_reason["sex as JSON"].unexpected_count == 0
    names = [storage.read_part(uri, ["name"]).column("name") for uri in extracted["parts"]]
    named = sum(len(c) - c.null_count for c in names)  # GX skips NULLs; an empty name is not JSON either
    assert by_reason["name as JSON"].unexpected_count == named and not by_reason["name as JSON"].success
    assert any(w.startswith(f"{unsupported}(name): {named} rows") for w in result.warnings)
    assert result.rows_warned == named - _quarantined_named(result)  # a quarantined row is not also warned
    # the fast path judged the rest as without the extra checks: the same rows are quarantined
    reference = executor.execute(plan.compile(population), population, extracted)
    assert result.rows_quarantined == reference.rows_quarantined > 0


def _quarantined_named(result) -> int:
    """Quarantined rows with a name: warned rows exclude them."""
    import pyarrow.parquet as pq

    rows = [json.loads(s) for uri in result.rejected_parts
            for s in pq.read_table(uri.removeprefix("file://"), columns=["source_row"]).column(0).to_pylist()]
    return sum(1 for r in rows if r.get("name") is not None)


# --- review findings: what changed-rows-only must never skip -------------------------------------------
def _legal_entity_source(dbs, rows: int):
    from baselib_simulators import legal_entity as sim
    from tests.conftest import AS_OF

    conn = dbs.source("dept_market_regulation")
    try:
        return sim.create(conn, rows=rows, seed=23, as_of=AS_OF, rates={})
    finally:
        conn.close()


def _source_execute(dbs, statement: str, params=None, role: str | None = None) -> None:
    conn = dbs.source(role) if role else dbs.source()
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def test_a_value_that_no_longer_converts_is_quarantined_although_it_hashes_like_the_stored_null(dbs):
    legal_entity = catalog_entry("base_legal_entity.legal_entity")
    _legal_entity_source(dbs, rows=300)
    first = run(legal_entity, DAY1)
    assert first["rows_quarantined"] == 0
    key = dbs.scalar("SELECT credit_code FROM base_legal_entity.legal_entity WHERE term_end IS NULL "
                     "ORDER BY credit_code LIMIT 1")
    role = "dept_market_regulation"
    _source_execute(dbs, "ALTER TABLE frontend.legal_entity ALTER COLUMN term_end TYPE text", role=role)
    _source_execute(dbs, "UPDATE frontend.legal_entity SET term_end = 'not-a-date' WHERE credit_code = %s",
                    (key,), role=role)

    out = validated(legal_entity, DAY2, mode="reconcile")

    assert out["rows_quarantined"] == 1
    assert out["rows_skipped_unchanged"] == first["rows_inserted"] - 1
    summary = _finish(legal_entity, out)
    assert_accounted(summary)
    [(reason,)] = dbs.query("SELECT reason FROM ops.quarantine WHERE record_key = %s AND last_load_id = %s",
                            (key, out["load_id"]))
    assert "营业期限至(term_end)" in reason
    # the stored version stays as it was: the unconverted value never replaced it
    assert dbs.scalar("SELECT count(*) FROM base_legal_entity.legal_entity_history WHERE credit_code = %s",
                      (key,)) == 1


def test_evidence_checks_cover_conversion_geometry_and_context_evidence():
    from baselib.validation import executor, plan

    indicator = catalog_entry("base_macro_economy.indicator_value")
    place = catalog_entry("base_spatial.place_name")
    names = {c.name for r in (indicator, place) for c in executor.evidence_checks(r, plan.compile(r).expectations)}
    assert "expect_column_values_to_be_null(_conversion_error)" in names
    assert "expect_column_values_to_be_null(_geometry_error)" in names
    assert {f"expect_column_values_to_be_in_set(_check__{c.name})"
            for c in indicator.pipeline.context_checks} <= names
    assert not any("_key" in n for n in names)  # a repeated key is never skipped anyway


def test_a_row_a_context_check_rejects_is_never_set_aside_as_unchanged(population):
    import numpy as np
    import pyarrow as pa

    from baselib.validation import context_checks, executor, plan

    checks = plan.compile(population).expectations
    context_check = plan.Check(index=len(checks), name="ctx", type="expect_column_values_to_be_in_set",
                               kwargs={"column": "_check__ctx", "value_set": [True]}, severity="critical",
                               dimension="consistent", level="row", origin="context_check", reason="ctx")
    evidence = executor.Evaluator(population, executor.evidence_checks(population, [*checks, context_check]), {})
    table = pa.table({"_source_row": pa.array([0, 1, 2, 3], pa.int64()),
                      "_conversion_error": pa.array([None, "出生日期(birth_date) …", None, None]),
                      "_check__ctx": pa.array([True, True, False, None])})
    candidates = np.array([True, True, True, False])
    flagged = executor._evidence_against(evidence, context_checks.ContextChecks(), table, candidates, "unit")
    # row 1: conversion evidence; row 2: the context check said False; row 3 was not a candidate
    assert flagged.tolist() == [False, True, True, False]


def test_a_load_committed_after_validation_makes_the_merge_classify_the_unchanged_rows(dbs, population):
    fill_source(dbs, rows=300, rates={})
    first = run(population, DAY1)
    assert first["rows_quarantined"] == 0
    key = dbs.scalar("SELECT id_number FROM base_population.person ORDER BY id_number LIMIT 1")
    _source_execute(dbs, "CREATE TABLE simulator.kept AS SELECT * FROM frontend.population_person "
                         "WHERE id_number = %s", (key,))
    _source_execute(dbs, "DELETE FROM frontend.population_person WHERE id_number = %s", (key,))
    b = validated(population, DAY2, mode="reconcile")                     # K gone at the source
    _source_execute(dbs, "INSERT INTO frontend.population_person SELECT * FROM simulator.kept")
    a = validated(population, DAY2, mode="reconcile")                     # K back: every row unchanged
    assert a["rows_skipped_unchanged"] == 300 and a["unchanged_parts"]

    loaded_b = _finish(population, b)
    assert loaded_b["rows_deleted"] == 1
    loaded_a = _finish(population, a)

    # A's snapshot, the newer one, holds K: K is live again, and every row is counted once
    assert dbs.scalar("SELECT count(*) FROM base_population.person_history WHERE id_number = %s "
                      "AND _valid_to IS NULL AND _deleted_at IS NULL", (key,)) == 1
    assert (loaded_a["rows_updated"], loaded_a["rows_unchanged"], loaded_a["rows_inserted"]) == (1, 299, 0)
    assert_accounted(loaded_a)


def test_without_a_load_in_between_the_unchanged_parts_are_never_read(dbs, population):
    fill_source(dbs, rows=300, rates={})
    run(population, DAY1)
    out = validated(population, DAY2, mode="reconcile")
    assert out["rows_skipped_unchanged"] == 300 and out["committed_loads"] == 1
    storage.remove(f"{out['prefix']}/unchanged")  # the merge would fail reading them

    summary = _finish(population, out)

    assert (summary["rows_unchanged"], summary["rows_updated"], summary["rows_deleted"]) == (300, 0, 0)
    assert_accounted(summary)


def test_a_check_over_other_rows_makes_the_run_check_every_row(dbs, population, tmp_path):
    from baselib.settings import EXPECTATIONS_DIR
    from baselib.validation import executor, plan

    spec = json.loads((EXPECTATIONS_DIR / "base_population.person.json").read_text(encoding="utf-8"))
    spec["expectations"].append({"type": "expect_column_values_to_match_regex",
                                 "kwargs": {"column": "address", "regex": "号", "mostly": 0.5},
                                 "severity": "critical", "meta": {"reason": "most addresses have a number"}})
    (tmp_path / "base_population.person.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    fill_source(dbs, rows=300, rates={})
    run(population, DAY1)
    extracted = pipeline.extract(population, run_info(population, DAY2, mode="reconcile"))

    every = executor.execute(plan.compile(population, tmp_path), population, extracted)
    usual = executor.execute(plan.compile(population), population, extracted)

    assert every.rows_skipped_unchanged == 0 and every.rows_checked == extracted["rows"] == 300
    assert every.unchanged_parts == [] and every.committed_loads is None
    [mostly] = [r for r in every.results if r.check.kwargs.get("mostly") == 0.5]
    assert mostly.element_count == 300
    assert usual.rows_skipped_unchanged == 300 and usual.rows_checked == 0  # the control
