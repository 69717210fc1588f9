"""The legal-entity pipeline against real PostgreSQL databases and real GX suites.

Each test gets a fresh warehouse and a fresh simulated market-regulation source
(Airflow connection ``dept_market_regulation``).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from baselib.catalog import load_catalog
from baselib.errors import BlockingQualityFailure
from baselib.identifiers import credit_code
from baselib_simulators import legal_entity as sim
from tests.conftest import AS_OF, DAY1, DAY2, UTC
from tests.integration.pipeline_helpers import assert_accounted, load_snapshot, look_back_rows, run

SOURCE = "dept_market_regulation"
CHANGE_AT = dt.datetime(2026, 11, 2, 8, tzinfo=UTC)

# What a quality officer reads for each injected defect (meta.reason in the suite / catalog checks).
REASON_FOR_DEFECT = {
    "bad_check_character": "统一社会信用代码(credit_code) 校验码错误：应为",
    "bad_org_code_check": "统一社会信用代码(credit_code) 第 9–17 位组织机构代码",
    "unknown_division_in_code": "统一社会信用代码中的行政区划码不存在",
    "bad_authority_category": "登记管理部门码与机构类别码组合未定义",
    "bad_legal_rep_id": "法定代表人证件号码(legal_rep_id_number) 作为公民身份号码（类型 111）",
    "bad_status": "登记状态不在值域",
    "inconsistent_dates": "日期不一致",
    "duplicate_conflict": "主键(credit_code)在本次抽取中重复",
}
HIGH_RATES = {**{kind: 0.008 for kind in sim.DEFECTS}, **{kind: 0.01 for kind in sim.WARNINGS}}


@pytest.fixture(scope="module")
def legal_entity():
    return next(r for r in load_catalog() if r.pipeline.target.qualified == "base_legal_entity.legal_entity")




def fill_source(dbs, rows=2000, rates=None):
    conn = dbs.source(SOURCE)
    try:
        return sim.create(conn, rows=rows, seed=23, as_of=AS_OF, rates=rates)
    finally:
        conn.close()


def change_source(dbs, **kwargs):
    conn = dbs.source(SOURCE)
    try:
        return sim.apply_changes(conn, **kwargs)
    finally:
        conn.close()


def source_query(dbs, sql, params=None):
    return dbs.query(sql, params, db=SOURCE)






def test_first_load_accounts_for_every_source_row(dbs, legal_entity):
    simulated = fill_source(dbs)
    summary = run(legal_entity, DAY1)

    assert_accounted(summary)
    assert summary["mode"] == "full"
    assert summary["rows_extracted"] == simulated.rows == dbs.scalar("SELECT count(*) FROM frontend.legal_entity",
                                                                     db=SOURCE)
    assert summary["rows_quarantined"] == sum(simulated.defects.values()) > 0
    assert summary["rows_extracted"] == summary["rows_inserted"] + summary["rows_quarantined"]
    # warning-level anomalies are counted, and loaded
    assert summary["rows_warned"] == sum(simulated.warnings.values()) > 0
    warned = [r[0] for r in source_query(dbs, "SELECT credit_code FROM simulator.injected_warning")]
    assert dbs.scalar("SELECT count(*) FROM base_legal_entity.legal_entity WHERE credit_code = ANY(%s)",
                      (warned,)) == len(warned)
    assert dbs.scalar("SELECT count(*) FROM base_legal_entity.legal_entity") == summary["rows_inserted"]
    # every loaded code is a valid credit code, the capital keeps its exact decimals
    loaded = [r[0] for r in dbs.query("SELECT credit_code FROM base_legal_entity.legal_entity")]
    assert all(credit_code.is_valid(c) and credit_code.is_valid_org_code(c[8:17]) for c in loaded)
    capital_type = dbs.scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                              "'base_legal_entity.legal_entity'::regclass AND attname = 'registered_capital'")
    assert capital_type == "numeric(18,4)"
    src_total = dbs.scalar("SELECT sum(registered_capital) FROM frontend.legal_entity f WHERE NOT EXISTS "
                           "(SELECT 1 FROM simulator.injected_defect d WHERE d.credit_code = f.credit_code)",
                           db=SOURCE)
    assert dbs.scalar("SELECT sum(registered_capital) FROM base_legal_entity.legal_entity") == src_total
    name = dbs.scalar("SELECT resource_name FROM catalog.resource WHERE resource_code = '102001/000001'")
    assert name == "法人单位登记基本信息"
    rate, provider = dbs.query("SELECT quality_pass_rate, provider_code FROM evaluation.sync_metrics WHERE load_id = %s",
                               (summary["load_id"],))[0]
    assert float(rate) == pytest.approx(summary["rows_inserted"] / summary["rows_extracted"], abs=1e-6)
    assert provider == legal_entity.provider.code and credit_code.is_valid(provider)


def test_every_injected_defect_lands_in_quarantine_with_its_reason(dbs, legal_entity):
    simulated = fill_source(dbs, rows=3000, rates=HIGH_RATES)
    summary = run(legal_entity, DAY1)

    injected = source_query(dbs, "SELECT credit_code, defect FROM simulator.injected_defect")
    quarantined = dbs.query("SELECT record_key, reason FROM ops.quarantine WHERE last_load_id = %s",
                            (summary["load_id"],))
    reasons_by_key: dict[str, list[str]] = {}
    for key, reason in quarantined:
        reasons_by_key.setdefault(key, []).append(reason)
    assert set(Counter(kind for _, kind in injected)) == set(sim.DEFECTS)
    for code, defect in injected:
        assert code in reasons_by_key, f"{defect} row {code} was not quarantined"
        assert any(REASON_FOR_DEFECT[defect] in r for r in reasons_by_key[code]), (defect, reasons_by_key[code])
    assert summary["rows_quarantined"] == len(injected)
    assert set(reasons_by_key) == {c for c, _ in injected}
    loaded = {r[0] for r in dbs.query("SELECT credit_code FROM base_legal_entity.legal_entity")}
    assert not loaded & set(reasons_by_key)
    assert summary["rows_warned"] == sum(simulated.warnings.values())
    # each warning kind was injected, and none of them is quarantined
    warned = source_query(dbs, "SELECT credit_code, warning FROM simulator.injected_warning")
    assert {kind for _, kind in warned} == set(sim.WARNINGS)
    assert {code for code, _ in warned} <= loaded


def test_incremental_load_with_new_changed_renamed_and_moved_rows(dbs, legal_entity):
    fill_source(dbs)
    first = run(legal_entity, DAY1)
    changes = change_source(dbs, at=CHANGE_AT, new=30, changed=10, renamed=8, moved=6)
    before = {code: (name, address, division) for code, name, address, division in dbs.query(
        "SELECT credit_code, entity_name, address, division_code FROM base_legal_entity.legal_entity")}

    second = run(legal_entity, DAY2)

    assert_accounted(second)
    assert second["mode"] == "incremental"
    margin = look_back_rows(dbs, second, "frontend.legal_entity", CHANGE_AT, db=SOURCE)
    assert (second["rows_extracted"], second["rows_inserted"], second["rows_updated"], second["rows_unchanged"]) == \
        (54 + margin, 30, 24, margin)
    assert dbs.scalar("SELECT count(*) FROM base_legal_entity.legal_entity") == first["rows_inserted"] + 30
    touched = changes["changed"] + changes["renamed"] + changes["moved"]
    assert len(set(touched)) == 24 and not set(changes["new"]) & set(before)
    versions = dbs.query(
        "SELECT credit_code, count(*), count(*) FILTER (WHERE _valid_to IS NULL), "
        "bool_and(_valid_to IS NULL OR _closed_by_load_id = %s) "
        "FROM base_legal_entity.legal_entity_history WHERE credit_code = ANY(%s) GROUP BY credit_code",
        (second["load_id"], touched))
    assert len(versions) == 24 and all(v[1:] == (2, 1, True) for v in versions)
    now = {code: (name, address, division) for code, name, address, division in dbs.query(
        "SELECT credit_code, entity_name, address, division_code FROM base_legal_entity.legal_entity "
        "WHERE credit_code = ANY(%s)", (touched,))}
    # a rename keeps the key and the address; a move keeps the key and the name
    for code in changes["renamed"]:
        assert now[code][0] != before[code][0] and now[code][1:] == before[code][1:]
    for code in changes["moved"]:
        assert now[code][0] == before[code][0]
        assert now[code][1] != before[code][1] and now[code][2] != before[code][2]
    # history shows both names of a renamed entity, in order
    code = changes["renamed"][0]
    names = [r[0] for r in dbs.query(
        "SELECT entity_name FROM base_legal_entity.legal_entity_history WHERE credit_code = %s ORDER BY _valid_from",
        (code,))]
    assert names == [before[code][0], now[code][0]]
    gaps = dbs.scalar(
        "SELECT count(*) FROM base_legal_entity.legal_entity_history o JOIN base_legal_entity.legal_entity_history n "
        "USING (credit_code) WHERE o._valid_to IS NOT NULL AND n._valid_to IS NULL AND o._valid_to <> n._valid_from "
        "AND credit_code = ANY(%s)", (touched,))
    assert gaps == 0


def test_a_second_rename_adds_a_third_version(dbs, legal_entity):
    fill_source(dbs, rows=500)
    run(legal_entity, DAY1)
    code = change_source(dbs, at=CHANGE_AT, renamed=1)["renamed"][0]
    run(legal_entity, DAY2)
    dbs.query("UPDATE frontend.legal_entity SET entity_name = '第三次名称有限公司', updated_at = %s "
              "WHERE credit_code = %s", (CHANGE_AT + dt.timedelta(days=1), code), db=SOURCE)
    third = run(legal_entity, (DAY2[1], DAY2[1] + dt.timedelta(days=1)))

    assert third["rows_updated"] == 1
    rows = dbs.query("SELECT entity_name, _valid_to IS NULL FROM base_legal_entity.legal_entity_history "
                     "WHERE credit_code = %s ORDER BY _valid_from", (code,))
    assert len(rows) == 3 and [open_ for _, open_ in rows] == [False, False, True]
    assert rows[-1][0] == "第三次名称有限公司"


def test_rerunning_the_same_interval_changes_nothing(dbs, legal_entity):
    fill_source(dbs)
    run(legal_entity, DAY1)
    change_source(dbs, at=CHANGE_AT, new=10, changed=4, renamed=3, moved=3)
    run(legal_entity, DAY2)
    before = load_snapshot(dbs, legal_entity)
    quarantine_before = dbs.scalar("SELECT count(*) FROM ops.quarantine")

    again = run(legal_entity, DAY2)
    backfill = run(legal_entity, DAY1)

    assert_accounted(again)
    assert (again["rows_inserted"], again["rows_updated"], again["rows_unchanged"]) == (0, 0, 20)
    assert (backfill["rows_inserted"], backfill["rows_updated"]) == (0, 0)
    assert load_snapshot(dbs, legal_entity) == before
    assert dbs.scalar("SELECT count(*) FROM ops.quarantine") == quarantine_before


def _drop_column(dbs):
    dbs.query("ALTER TABLE frontend.legal_entity DROP COLUMN status", db=SOURCE)


def _mostly_defective(dbs):
    fill_source(dbs, rows=2000, rates={kind: 0.05 for kind in sim.DEFECTS})


@pytest.mark.parametrize(("break_source", "mode", "check"), [
    (_drop_column, "auto", "expect_column_to_exist(status)"),
    (_mostly_defective, "reconcile", "quarantine_threshold"),
], ids=["missing-column", "quarantine-threshold"])
def test_blocking_failure_leaves_tables_unchanged(dbs, legal_entity, break_source, mode, check):
    fill_source(dbs)
    run(legal_entity, DAY1)
    change_source(dbs, at=CHANGE_AT, new=5, renamed=5)
    before = load_snapshot(dbs, legal_entity)
    break_source(dbs)

    with pytest.raises(BlockingQualityFailure) as raised:
        run(legal_entity, DAY2, mode=mode)

    assert check in str(raised.value)
    assert load_snapshot(dbs, legal_entity) == before
    status, checks = dbs.query("SELECT status, blocking_checks FROM ops.load_run ORDER BY load_id DESC LIMIT 1")[0]
    assert status == "blocked" and any(check in c["check"] for c in checks)


def test_personal_items_are_not_granted_to_the_general_reader(dbs, legal_entity):
    fill_source(dbs, rows=300)
    run(legal_entity, DAY1)
    readable = {r[0] for r in dbs.query(
        "SELECT column_name FROM information_schema.column_privileges WHERE grantee = 'base_legal_entity_reader' "
        "AND table_name = 'legal_entity_current' AND privilege_type = 'SELECT'")}
    assert {"legal_rep_name", "legal_rep_id_number"} == {i.name for i in legal_entity.items if i.personal}
    assert "credit_code" in readable and not readable & {"legal_rep_name", "legal_rep_id_number"}


def test_clean_credit_codes_are_loaded_and_deterministic(dbs, legal_entity):
    fill_source(dbs, rows=1000, rates=HIGH_RATES)
    run(legal_entity, DAY1)
    conn = dbs.source(SOURCE)
    try:
        codes = sim.clean_credit_codes(conn, 50)
        assert sim.clean_credit_codes(conn, 50) == codes
    finally:
        conn.close()
    assert len(codes) == len(set(codes)) == 50
    assert dbs.scalar("SELECT count(*) FROM base_legal_entity.legal_entity WHERE credit_code = ANY(%s)", (codes,)) == 50


def test_the_simulator_is_deterministic():
    first, defects, warned = sim.generate(3000, 5, AS_OF, rates=HIGH_RATES)
    again, defects2, warned2 = sim.generate(3000, 5, AS_OF, rates=HIGH_RATES)
    assert first.equals(again) and defects == defects2 and warned == warned2
    other, _, _ = sim.generate(3000, 6, AS_OF, rates=HIGH_RATES)
    assert not first.equals(other)
    # keys are unique apart from the duplicate twins
    codes = Counter(first["credit_code"].to_pylist())
    assert {c for c, n in codes.items() if n > 1} == {c for c, d in defects if d == "duplicate_conflict"}
