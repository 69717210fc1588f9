"""The population pipeline against real PostgreSQL databases and real GX suites.

Each test gets a fresh warehouse and a fresh simulated public-security source.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import psycopg2
import pytest

from baselib.errors import BlockingQualityFailure
from baselib_simulators import population as sim
from tests.conftest import DAY1, DAY2, UTC
from tests.integration.pipeline_helpers import (assert_accounted, change_source, fail_inserts_into, fill_source,
                                                load_snapshot, look_back_rows, run)


# What a quality officer reads for each injected defect (meta.reason in the suite / catalog checks).
REASON_FOR_DEFECT = {
    "bad_check_character": "校验码错误",
    "birth_date_mismatch": "出生日期与公民身份号码不一致",
    "sex_mismatch": "性别与公民身份号码顺序码不一致",
    "unknown_division_code": "户籍地行政区划代码不存在",
    "missing_name": "姓名",
    "duplicate_conflict": "主键(id_number)在本次抽取中重复",
    "future_birth_date": "出生日期晚于数据截止日",
}
HIGH_RATES = {kind: 0.01 for kind in sim.DEFECTS}


def test_first_load_accounts_for_every_source_row(dbs, population):
    simulated = fill_source(dbs)
    summary = run(population, DAY1)

    assert_accounted(summary)
    assert summary["mode"] == "full"
    assert summary["rows_extracted"] == simulated.rows == dbs.scalar(
        "SELECT count(*) FROM frontend.population_person", db="source")
    assert summary["rows_quarantined"] == sum(simulated.defects.values())
    assert summary["rows_updated"] == summary["rows_unchanged"] == 0
    assert dbs.scalar("SELECT count(*) FROM base_population.person") == summary["rows_inserted"]
    assert dbs.scalar("SELECT count(*) FROM base_population.person_history WHERE _valid_to IS NULL") == summary["rows_inserted"]
    # the catalog entry is published with its items, and the run has sync metrics
    assert dbs.scalar("SELECT resource_name FROM catalog.resource WHERE resource_code = '101001/000001'") == "户籍人口基本信息"
    assert dbs.scalar("SELECT count(*) FROM catalog.resource_item WHERE resource_code = '101001/000001'") == len(population.items)
    rate, lag, provider = dbs.query(
        "SELECT quality_pass_rate, timeliness_lag_seconds, provider_code FROM evaluation.sync_metrics WHERE load_id = %s",
        (summary["load_id"],))[0]
    expected_rate = (summary["rows_extracted"] - summary["rows_quarantined"]) / summary["rows_extracted"]
    assert float(rate) == pytest.approx(expected_rate, abs=1e-6)
    assert lag > 0 and provider == population.provider.code


def test_every_injected_defect_lands_in_quarantine_with_its_reason(dbs, population):
    fill_source(dbs, rows=3000, rates=HIGH_RATES)
    summary = run(population, DAY1)

    injected = dbs.query("SELECT id_number, defect FROM simulator.injected_defect", db="source")
    quarantined = dbs.query("SELECT record_key, reason FROM ops.quarantine WHERE last_load_id = %s", (summary["load_id"],))
    reasons_by_key: dict[str, list[str]] = {}
    for key, reason in quarantined:
        reasons_by_key.setdefault(key, []).append(reason)
    assert set(Counter(kind for _, kind in injected)) == set(sim.DEFECTS)
    for id_number, defect in injected:
        assert id_number in reasons_by_key, f"{defect} row {id_number} was not quarantined"
        assert any(REASON_FOR_DEFECT[defect] in r for r in reasons_by_key[id_number]), (defect, reasons_by_key[id_number])
    assert summary["rows_quarantined"] == len(injected)
    # nothing clean was rejected, and nothing rejected reached the base table
    assert set(reasons_by_key) == {i for i, _ in injected}
    loaded = {r[0] for r in dbs.query("SELECT id_number FROM base_population.person")}
    assert not loaded & set(reasons_by_key)
    source_row, failed = dbs.query("SELECT source_row, failed_expectations FROM ops.quarantine LIMIT 1")[0]
    assert set(population.column_names) <= set(source_row) and failed[0]["severity"] == "critical"
    # the quality report is HTML for many readers: it must not list the personal identifiers
    report_html = " ".join(p.read_text(encoding="utf-8") for p in Path(summary["report_path"]).parent.rglob("*.html"))
    assert Path(summary["report_path"]).is_file()
    assert not [key for key in reasons_by_key if key and key in report_html]


def test_incremental_load_inserts_new_and_versions_changed_rows(dbs, population):
    fill_source(dbs)
    first = run(population, DAY1)
    at = dt.datetime(2026, 11, 2, 8, tzinfo=UTC)
    changes = change_source(dbs, at=at, new=40, changed=25)

    second = run(population, DAY2)

    assert_accounted(second)
    assert second["mode"] == "incremental"
    margin = look_back_rows(dbs, second, "frontend.population_person", at)
    assert (second["rows_extracted"], second["rows_inserted"], second["rows_updated"], second["rows_unchanged"]) == \
        (65 + margin, 40, 25, margin)
    assert dbs.scalar("SELECT count(*) FROM base_population.person") == first["rows_inserted"] + 40
    changed = changes["changed"]
    versions = dbs.query(
        "SELECT id_number, count(*), count(*) FILTER (WHERE _valid_to IS NULL), "
        "bool_and(_valid_to IS NULL OR _closed_by_load_id = %s) "
        "FROM base_population.person_history WHERE id_number = ANY(%s) GROUP BY id_number",
        (second["load_id"], changed))
    assert len(versions) == 25 and all(v[1:] == (2, 1, True) for v in versions)
    addresses = dbs.query("SELECT address FROM base_population.person WHERE id_number = ANY(%s)", (changed,))
    assert all(a[0].endswith("（变更）") for a in addresses)
    # the open version starts exactly where the closed one ends
    gaps = dbs.scalar(
        "SELECT count(*) FROM base_population.person_history o JOIN base_population.person_history n "
        "USING (id_number) WHERE o._valid_to IS NOT NULL AND n._valid_to IS NULL AND o._valid_to <> n._valid_from "
        "AND id_number = ANY(%s)", (changed,))
    assert gaps == 0


def test_rerunning_the_same_interval_changes_nothing(dbs, population):
    fill_source(dbs)
    run(population, DAY1)
    change_source(dbs, at=dt.datetime(2026, 11, 2, 8, tzinfo=UTC), new=10, changed=10)
    run(population, DAY2)
    before = load_snapshot(dbs, population)
    quarantine_before = dbs.query("SELECT count(*), sum(times_seen) FROM ops.quarantine")[0]

    again = run(population, DAY2)
    backfill = run(population, DAY1)  # an older interval, backfilled after a newer one

    assert_accounted(again)
    assert (again["rows_inserted"], again["rows_updated"], again["rows_unchanged"]) == (0, 0, 20)
    assert (backfill["rows_inserted"], backfill["rows_updated"]) == (0, 0)
    assert load_snapshot(dbs, population) == before
    assert dbs.query("SELECT count(*) FROM ops.quarantine")[0][0] == quarantine_before[0]


def test_full_reconciliation_closes_keys_deleted_at_the_source(dbs, population):
    fill_source(dbs, rates=HIGH_RATES)
    first = run(population, DAY1)
    deleted = change_source(dbs, at=dt.datetime(2026, 11, 2, 8, tzinfo=UTC), deleted=7)["deleted"]

    recon = run(population, DAY2, mode="reconcile")

    assert_accounted(recon)
    assert recon["mode"] == "reconcile" and recon["rows_deleted"] == 7
    assert recon["rows_unchanged"] == first["rows_inserted"] - 7 and recon["rows_inserted"] == 0
    # kept (not physically deleted), flagged, hidden from the current view; in the SCD2 table the
    # live version is closed by the reconcile and an open tombstone ('D', items copied) follows it
    flagged = dbs.query("SELECT id_number FROM base_population.person WHERE _deleted_at IS NOT NULL")
    assert sorted(r[0] for r in flagged) == sorted(deleted)
    assert dbs.scalar("SELECT count(*) FROM base_population.person_current WHERE id_number = ANY(%s)", (deleted,)) == 0
    versions = dbs.query(
        "SELECT o._change, o._closed_by_load_id, t._change, t._load_id, t._deleted_at = t._valid_from, "
        "t._valid_from = o._valid_to, (o.name, o.address) IS NOT DISTINCT FROM (t.name, t.address) "
        "FROM base_population.person_history o JOIN base_population.person_history t USING (id_number) "
        "WHERE id_number = ANY(%s) AND o._valid_to IS NOT NULL AND t._valid_to IS NULL", (deleted,))
    assert versions == [("I", recon["load_id"], "D", recon["load_id"], True, True, True)] * 7
    assert dbs.scalar("SELECT count(*) FROM base_population.person_history WHERE id_number = ANY(%s)", (deleted,)) == 14
    # quarantined rows still exist at the source, so they are not "deleted"
    assert dbs.scalar("SELECT count(*) FROM base_population.person WHERE _deleted_at IS NOT NULL") == 7

    again = run(population, DAY2, mode="reconcile")
    assert again["rows_deleted"] == 0 and again["rows_updated"] == 0


def _drop_column(dbs):
    dbs.query("ALTER TABLE frontend.population_person DROP COLUMN sex", db="source")


def _empty_source(dbs):
    dbs.query("TRUNCATE frontend.population_person", db="source")


def _collapse_source(dbs):
    dbs.query("DELETE FROM frontend.population_person WHERE row_id % 10 <> 0", db="source")


def _mostly_defective(dbs):
    fill_source(dbs, rows=2000, rates={kind: 0.05 for kind in sim.DEFECTS})


@pytest.mark.parametrize(("break_source", "mode", "check"), [
    (_drop_column, "auto", "expect_column_to_exist(sex)"),
    (_empty_source, "reconcile", "empty_extract"),
    (_collapse_source, "reconcile", "row_count_collapse"),
    (_mostly_defective, "reconcile", "quarantine_threshold"),
], ids=["missing-column", "empty-extract", "row-count-collapse", "quarantine-threshold"])
def test_blocking_table_level_failure_leaves_tables_unchanged(dbs, population, break_source, mode, check):
    fill_source(dbs)
    run(population, DAY1)
    change_source(dbs, at=dt.datetime(2026, 11, 2, 8, tzinfo=UTC), new=5, changed=5)
    before = load_snapshot(dbs, population)
    break_source(dbs)

    with pytest.raises(BlockingQualityFailure) as raised:
        run(population, DAY2, mode=mode)

    assert check in str(raised.value)
    assert load_snapshot(dbs, population) == before
    status, checks = dbs.query("SELECT status, blocking_checks FROM ops.load_run ORDER BY load_id DESC LIMIT 1")[0]
    assert status == "blocked" and any(check in c["check"] for c in checks)


def test_failure_mid_load_rolls_back_everything(dbs, population):
    fill_source(dbs)
    run(population, DAY1)
    change_source(dbs, at=dt.datetime(2026, 11, 2, 8, tzinfo=UTC), new=5, changed=5)
    before = load_snapshot(dbs, population)
    # inserts of new versions fail after the changed keys' versions were closed
    fail_inserts_into(dbs, "base_population.person_history")

    with pytest.raises(psycopg2.Error, match="disk full"):
        run(population, DAY2)

    assert load_snapshot(dbs, population) == before
    assert dbs.scalar("SELECT status FROM ops.load_run ORDER BY load_id DESC LIMIT 1") == "failed"


def test_source_outage_is_a_clear_source_error(dbs, population, monkeypatch):
    from baselib.errors import SourceError

    fill_source(dbs)
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_PUBLIC_SECURITY", "postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(SourceError, match="cannot connect to dept_public_security"):
        run(population, DAY1)
    assert dbs.scalar("SELECT status FROM ops.load_run ORDER BY load_id DESC LIMIT 1") == "failed"


def test_grants_follow_the_catalog(dbs, population):
    fill_source(dbs, rows=500)
    run(population, DAY1)
    readable = dbs.query(
        "SELECT column_name FROM information_schema.column_privileges "
        "WHERE grantee = 'base_population_reader' AND table_name = 'person_current' AND privilege_type = 'SELECT'")
    personal = {i.name for i in population.items if i.personal}
    assert {r[0] for r in readable} == {i.name for i in population.items if not i.personal} | {"loaded_at"}
    assert not personal & {r[0] for r in readable}
    assert dbs.scalar("SELECT has_table_privilege('population_personal_reader', "
                      "'base_population.person_current', 'SELECT')")
    assert not dbs.scalar("SELECT has_table_privilege('base_population_reader', 'base_population.person', 'SELECT')")


def test_a_corrected_row_loads_and_resolves_its_quarantine_entry(dbs, population):
    fill_source(dbs, rates=HIGH_RATES)
    run(population, DAY1)
    id_number = dbs.scalar("SELECT id_number FROM simulator.injected_defect WHERE defect = 'missing_name' LIMIT 1",
                           db="source")
    assert dbs.scalar("SELECT status FROM ops.quarantine WHERE record_key = %s", (id_number,)) == "open"
    # the provider fixes the row it was sent back
    dbs.query("UPDATE frontend.population_person SET name = '张三', updated_at = %s WHERE id_number = %s",
              (dt.datetime(2026, 11, 2, 8, tzinfo=UTC), id_number), db="source")

    fixed = run(population, DAY2)

    assert fixed["rows_inserted"] == 1 and fixed["rows_quarantined"] == 0
    status, resolved_by = dbs.query("SELECT status, resolved_by_load_id FROM ops.quarantine WHERE record_key = %s",
                                    (id_number,))[0]
    assert (status, resolved_by) == ("resolved", fixed["load_id"])
    assert dbs.scalar("SELECT count(*) FROM ops.quarantine WHERE status = 'resolved'") == 1
