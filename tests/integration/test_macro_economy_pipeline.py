"""The macro-economy base library from the statistics bureau's file drops (GBK/GB18030 CSV and
Excel, long and wide), against real PostgreSQL and real GX suites."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from baselib.errors import BlockingQualityFailure
from baselib_simulators import macro_economy as sim
from baselib_simulators.delivery import date_back, deliver
from tests.conftest import DAY1, DAY2
from tests.integration.file_drop_helpers import (
    assert_defects_quarantined, assert_deliveries_accounted, deliveries, quarantine_reasons,
)
from tests.integration.pipeline_helpers import assert_accounted, catalog_entry, load_snapshot, run

INDICATORS, VALUES = "104001/000001", "104001/000002"
DAY3 = (DAY2[1], DAY2[1] + dt.timedelta(days=1))
REASON_FOR_DEFECT = {
    "bad_period": "时期无法识别",
    "future_period": "时期尚未结束",
    "unknown_region": "地区代码不存在",
    "non_numeric": "不是数值",
    "unit_mismatch": "计量单位与指标目录登记的不一致",
    "duplicate_in_delivery": "在同一交付文件中重复",
}
WARNING_CHECK = {"yoy_outlier": "year_over_year_within_band", "province_mismatch": "province_equals_sum_of_prefectures"}


def indicator_entry():
    return catalog_entry("base_macro_economy.indicator")


def values_entry():
    return catalog_entry("base_macro_economy.indicator_value")


def test_every_defect_is_quarantined_and_warnings_are_counted(dbs, landing):
    drop = sim.write_drop(landing, seed=11)
    indicators = run(indicator_entry(), DAY1)
    values = run(values_entry(), DAY1)

    assert_accounted(indicators)
    assert indicators["rows_inserted"] == drop.indicators
    assert_accounted(values)
    assert values["rows_extracted"] == drop.rows_total
    assert values["rows_inserted"] == drop.rows_clean
    assert_defects_quarantined(dbs, VALUES, drop.defects, REASON_FOR_DEFECT)
    duplicates = len(drop.defects["duplicate_in_delivery"])  # each duplicated key is quarantined twice
    assert values["rows_quarantined"] == sum(len(v) for v in drop.defects.values()) + duplicates
    assert dbs.scalar("SELECT count(*) FROM ops.quarantine WHERE resource_code = %s", (VALUES,)) \
        == values["rows_quarantined"]

    # warning-level anomalies load, and are counted as warned
    warned = sum(len(v) for v in drop.warnings.values())
    assert warned and values["rows_warned"] >= warned
    for kind, keys in drop.warnings.items():
        for key in keys:
            assert dbs.scalar("SELECT count(*) FROM base_macro_economy.indicator_value WHERE indicator_code = %s "
                              "AND region_code = %s AND period = %s", tuple(key[:3])) == 1, (kind, key)

    # unreadable files are moved aside with their reason; every other file loaded
    files = deliveries(dbs, VALUES)
    for name in drop.rejected_files:
        assert files[name]["status"] == "rejected" and files[name]["reason"], files[name]
        assert not (drop.value_dir / name).exists()
        assert (drop.value_dir / "_rejected" / f"load-{values['load_id']}" / f"{name}.reason.txt").exists()
    assert "Excel" in files["broken.xlsx"]["reason"]
    assert "not valid UTF-8, GBK or GB18030" in files["wrong_encoding.csv"]["reason"]
    assert {d["status"] for n, d in files.items() if n not in drop.rejected_files} == {"loaded"}
    assert_deliveries_accounted(dbs, VALUES)
    refs = dbs.query("SELECT source_ref FROM ops.quarantine WHERE resource_code = %s", (VALUES,))
    assert all(" line " in r[0] or " row " in r[0] for r in refs)


def test_periods_are_normalised_and_wide_sheets_unpivot(dbs, landing):
    drop = sim.write_drop(landing, seed=12)
    run(indicator_entry(), DAY1)
    run(values_entry(), DAY1)

    stored = {(i, r, p): v for i, r, p, v in dbs.query(
        "SELECT indicator_code, region_code, period, value FROM base_macro_economy.indicator_value")}
    assert drop.wide_expected
    for indicator, region, period, value in drop.wide_expected:
        assert stored[(indicator, region, period)] == Decimal(value), (indicator, region, period)
    kinds = dict(dbs.query("SELECT period_type, count(*) FROM base_macro_economy.indicator_value GROUP BY 1"))
    assert set(kinds) == {"Y", "Q", "M"}
    assert dbs.scalar("SELECT count(*) FROM base_macro_economy.indicator_value WHERE NOT ("
                      "(period_type = 'Y' AND period ~ '^[0-9]{4}$' AND period_end = period_start + interval '1 year' - interval '1 day') OR "
                      "(period_type = 'Q' AND period ~ '^[0-9]{4}Q[1-4]$' AND period_end = period_start + interval '3 months' - interval '1 day') OR "
                      "(period_type = 'M' AND period ~ '^[0-9]{4}-[0-9]{2}$' AND period_end = period_start + interval '1 month' - interval '1 day'))") == 0


def test_gbk_and_gb18030_text_round_trips(dbs, landing):
    sim.write_drop(landing, seed=13)
    run(indicator_entry(), DAY1)
    run(values_entry(), DAY1)

    names = dict(dbs.query("SELECT indicator_code, indicator_name || '|' || unit FROM base_macro_economy.indicator"))
    assert names == {code: f"{name}|{unit}" for code, name, unit, _, _ in sim.INDICATORS}
    assert dict(dbs.query("SELECT indicator_code, additive FROM base_macro_economy.indicator")) == \
        {code: additive for code, _, _, additive, _ in sim.INDICATORS}
    encodings = {n: d["encoding"] for n, d in deliveries(dbs, VALUES).items() if d["status"] == "loaded"}
    assert encodings["gdp_annual_long.csv"] == "gbk"
    assert encodings["population_annual_wide.csv"] in ("gbk", "gb18030")
    assert deliveries(dbs, INDICATORS)["indicators.csv"]["encoding"] == "gbk"


def test_a_redrop_is_a_no_op_and_a_revision_is_a_new_version_with_its_delivery(dbs, landing):
    drop = sim.write_drop(landing, seed=14)
    run(indicator_entry(), DAY1)
    resource = values_entry()
    run(resource, DAY1)
    before = load_snapshot(dbs, resource)

    sim.write_drop(landing, seed=14)  # the same files dropped again
    again = run(resource, DAY2)
    assert again["rows_extracted"] == 0 and load_snapshot(dbs, resource)[:2] == before[:2]

    revised = sim.write_revision(landing, drop, seed=14)
    revision = run(resource, DAY3)
    assert_accounted(revision)
    assert revision["rows_updated"] == len(revised) and revision["rows_inserted"] == 0
    new_delivery, old_delivery = [r[0] for r in dbs.query(
        "SELECT delivery_id FROM ops.file_delivery WHERE path LIKE '%%/gdp_annual_long.csv' ORDER BY delivery_id DESC")]
    for indicator, region, period, value in revised:
        current = dbs.query("SELECT value FROM base_macro_economy.indicator_value_current WHERE indicator_code = %s "
                            "AND region_code = %s AND period = %s", (indicator, region, period))
        assert current == [(Decimal(value),)]
        history = dbs.query("SELECT value, _delivery_id, _valid_to IS NULL FROM base_macro_economy.indicator_value_history "
                            "WHERE indicator_code = %s AND region_code = %s AND period = %s ORDER BY _valid_from",
                            (indicator, region, period))
        assert len(history) == 2
        assert history[0][1:] == (old_delivery, False) and history[1] == (Decimal(value), new_delivery, True)
    assert_deliveries_accounted(dbs, VALUES)
    # the revision file is in the manifest as a second delivery of the same path
    assert dbs.scalar("SELECT count(DISTINCT content_sha256) FROM ops.file_delivery "
                      "WHERE path LIKE '%%/gdp_annual_long.csv'") == 2


def test_values_before_their_indicators_block_and_are_retried_once_the_dimension_loads(dbs, landing):
    sim.write_drop(landing, seed=15)
    resource = values_entry()
    try:
        run(resource, DAY1)
        raise AssertionError("the load should be blocked")
    except BlockingQualityFailure as exc:
        assert "base_macro_economy.indicator does not exist" in str(exc)
    assert dbs.scalar("SELECT count(*) FROM base_macro_economy.indicator_value") == 0
    assert {d["status"] for n, d in deliveries(dbs, VALUES).items() if d["status"] != "rejected"} == {"failed"}

    run(indicator_entry(), DAY1)
    retried = run(resource, DAY2)
    assert_accounted(retried) and retried["rows_inserted"] > 0
    loaded = [d for d in deliveries(dbs, VALUES).values() if d["status"] == "loaded"]
    assert loaded and all(d["attempts"] == 2 for d in loaded)


def test_full_mode_reprocesses_every_file_and_changes_nothing(dbs, landing):
    sim.write_drop(landing, seed=16)
    run(indicator_entry(), DAY1)
    resource = values_entry()
    first = run(resource, DAY1)
    before = load_snapshot(dbs, resource)

    again = run(resource, DAY2, mode="full")
    assert again["mode"] == "full"
    assert again["rows_extracted"] == first["rows_extracted"] - 0  # rejected files were moved away
    assert again["rows_inserted"] == again["rows_updated"] == 0
    assert load_snapshot(dbs, resource)[:2] == before[:2]


def test_two_files_of_one_run_the_later_supersedes_and_bad_types_are_quarantined(dbs, landing):
    import os

    indicator_dir = sim.write_indicators(landing)
    with open(indicator_dir / "indicators.csv", "ab") as extra:  # a value that is not a logical value
        extra.write("A0999,测试指标,亿元,也许,年\n".encode("gbk"))
    date_back(indicator_dir / "indicators.csv")
    indicators = run(indicator_entry(), DAY1)
    assert indicators["rows_quarantined"] == 1
    reason = quarantine_reasons(dbs, INDICATORS)["A0999"]
    assert "值与目录声明的数据类型不符" in reason and "可加总(additive) '也许'" in reason
    assert dbs.scalar("SELECT source_ref FROM ops.quarantine WHERE record_key = 'A0999'") == "indicators.csv line 7"

    values_dir = landing / "statistics" / "indicator_value"
    values_dir.mkdir(parents=True)
    header = "indicator_code,region_code,period,value,unit\n"
    deliver(values_dir / "a_first.csv", header + "A0201,360100,2025,10,亿元\nA0201,360200,2025,20,亿元\n",
            encoding="utf-8")
    deliver(values_dir / "b_revised.csv", header + "A0201,360100,2025,11,亿元\n", encoding="utf-8")
    os.utime(values_dir / "a_first.csv", (1_700_000_000, 1_700_000_000))
    os.utime(values_dir / "b_revised.csv", (1_700_000_100, 1_700_000_100))
    summary = run(values_entry(), DAY1)

    assert_accounted(summary)
    assert summary["rows_extracted"] == 2 and summary["rows_inserted"] == 2
    assert dbs.query("SELECT value FROM base_macro_economy.indicator_value_current "
                     "WHERE region_code = '360100'") == [(Decimal("11"),)]
    files = deliveries(dbs, VALUES)
    assert (files["a_first.csv"]["rows_read"], files["a_first.csv"]["rows_superseded"],
            files["a_first.csv"]["rows_inserted"]) == (2, 1, 1)
    assert (files["b_revised.csv"]["rows_read"], files["b_revised.csv"]["rows_inserted"]) == (1, 1)
    assert_deliveries_accounted(dbs, VALUES)
