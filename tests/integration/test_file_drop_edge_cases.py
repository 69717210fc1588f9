"""File drops at their edges, against real PostgreSQL: awkward file names, files that break in
unusual ways, a delivery above the quality threshold, a load that fails and is retried."""
from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import psycopg2
import pytest

from baselib import pipeline
from baselib_simulators import macro_economy as sim
from baselib_simulators.delivery import deliver
from tests.conftest import DAY1
from tests.integration.file_drop_helpers import assert_deliveries_accounted, deliveries, quarantine_reasons
from tests.integration.pipeline_helpers import (
    assert_accounted, catalog_entry, fail_inserts_into, load_snapshot, run, stop_failing,
)

VALUES = "104001/000002"
HEADER = "indicator_code,region_code,period,value,unit\n"


def values_dir(landing):
    sim.write_indicators(landing)
    run(catalog_entry("base_macro_economy.indicator"), DAY1)
    folder = landing / "statistics" / "indicator_value"
    folder.mkdir(parents=True)
    return folder


def good_rows(n: int, year: int = 2024) -> str:
    prefectures = ["360100", "360200", "360300", "360400", "360500", "360600", "360700", "360800", "360900",
                   "361000", "361100"]
    return "".join(f"A0201,{prefectures[i % 11]},{year - i // 11},{100 + i}.5,亿元\n" for i in range(n))


def test_file_names_with_chinese_spaces_and_percent_signs_load(dbs, landing):
    folder = values_dir(landing)
    name = "2025年 主要指标 50%.csv"
    deliver(folder / name, HEADER + good_rows(3), encoding="gbk")
    summary = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    assert_accounted(summary)
    assert summary["rows_inserted"] == 3
    assert deliveries(dbs, VALUES)[name]["status"] == "loaded"
    assert dbs.scalar("SELECT count(*) FROM ops.quarantine WHERE resource_code = %s", (VALUES,)) == 0


def test_broken_files_are_rejected_one_by_one_and_the_rest_loads(dbs, landing):
    folder = values_dir(landing)
    deliver(folder / "good.csv", HEADER + good_rows(5), encoding="utf-8")
    deliver(folder / "two_region_columns.csv",
            "indicator_code,region_code,行政区划代码,period,value,unit\nA0201,360100,360100,2024,1,亿元\n", encoding="utf-8")
    deliver(folder / "cut_in_a_quote.csv", HEADER + 'A0201,360100,2024,1,"亿', encoding="utf-8")
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active.append(["本表为示例 / notes only"])
    values = book.create_sheet("数据")
    values.append(["indicator_code", "region_code", "period", "value", "unit"])
    values.append(["A0201", "360200", "2023", 7.25, "亿元"])
    buffer = io.BytesIO()
    book.save(buffer)
    deliver(folder / "with_notes_sheet.xlsx", buffer.getvalue())
    deliver(folder / "scan.pdf", b"%PDF-1.7 not a data file")

    summary = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    assert_accounted(summary)
    files = deliveries(dbs, VALUES)
    assert files["good.csv"]["status"] == files["with_notes_sheet.xlsx"]["status"] == "loaded"
    assert summary["rows_inserted"] == 6
    assert "more than one column for the items region_code" in files["two_region_columns.csv"]["reason"]
    assert "CSV" in files["cut_in_a_quote.csv"]["reason"]
    assert "not a declared format" in files["scan.pdf"]["reason"]
    assert {n for n, d in files.items() if d["status"] == "rejected"} == {
        "two_region_columns.csv", "cut_in_a_quote.csv", "scan.pdf"}
    assert dbs.scalar("SELECT ignored_columns FROM ops.file_delivery WHERE path LIKE '%%with_notes_sheet.xlsx'") == \
        ["sheet 说明 (no catalog columns)"]


def test_a_delivery_above_the_threshold_is_sent_back_whole_and_the_others_load(dbs, landing):
    folder = values_dir(landing)
    deliver(folder / "good.csv", HEADER + good_rows(10), encoding="utf-8")
    bad_rows = "".join(f"A0201,36{90 + i:02d}00,2024,1,亿元\n" for i in range(4))  # unknown regions
    deliver(folder / "mostly_bad.csv", HEADER + bad_rows + good_rows(1, year=2020), encoding="utf-8")
    deliver(folder / "too_big.csv", HEADER + good_rows(9, year=2010) + "A0201,360100,2009,123456789012345678,亿元\n",
                                        encoding="utf-8")

    summary = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    assert_accounted(summary)
    files = deliveries(dbs, VALUES)
    bad = files["mostly_bad.csv"]
    assert bad["status"] == "rejected" and "整个文件退回" in bad["reason"] and bad["rows_quarantined"] == 5
    assert not (folder / "mostly_bad.csv").exists()
    assert (folder / "_rejected" / f"load-{summary['load_id']}" / "mostly_bad.csv").exists()
    reasons = quarantine_reasons(dbs, VALUES)
    assert "the whole file is sent back" in reasons["A0201/360100/2020"]  # its clean row is held back too
    assert "地区代码不存在" in reasons["A0201/369000/2024"]
    # a number the column cannot hold is quarantined, not a failed COPY
    assert "整数部分超过 16 位" in reasons["A0201/360100/2009"]
    assert files["too_big.csv"]["status"] == files["good.csv"]["status"] == "loaded"
    assert summary["rows_inserted"] == 19 and summary["rows_quarantined"] == 6
    assert_deliveries_accounted(dbs, VALUES)


def test_a_load_that_fails_and_is_retried_closes_its_deliveries(dbs, landing):
    folder = values_dir(landing)
    deliver(folder / "good.csv", HEADER + good_rows(4), encoding="utf-8")
    resource = catalog_entry("base_macro_economy.indicator_value")
    info = pipeline.RunInfo(dag_id=resource.dag_id, run_id="retry", logical_date=DAY1[0],
                            data_interval_start=DAY1[0], data_interval_end=DAY1[1])
    validated = pipeline.validate(resource, pipeline.extract(resource, info))
    before = load_snapshot(dbs, resource)
    fail_inserts_into(dbs, "base_macro_economy.indicator_value_history")
    with pytest.raises(psycopg2.Error, match="disk full"):
        pipeline.load(resource, validated)
    assert load_snapshot(dbs, resource) == before
    assert deliveries(dbs, VALUES)["good.csv"]["status"] == "failed"

    stop_failing(dbs, "base_macro_economy.indicator_value_history")
    summary = pipeline.record(resource, pipeline.load(resource, validated))  # Airflow's retry of the load task

    assert_accounted(summary)
    assert deliveries(dbs, VALUES)["good.csv"]["status"] == "loaded"
    assert dbs.scalar("SELECT sum(value) FROM base_macro_economy.indicator_value") == Decimal("100.5") * 4 + 6
    assert_deliveries_accounted(dbs, VALUES)


def test_reprocessing_replays_files_in_delivery_order_not_modification_time(dbs, landing):
    import os

    from tests.conftest import DAY2

    folder = values_dir(landing)
    resource = catalog_entry("base_macro_economy.indicator_value")
    deliver(folder / "a_original.csv", HEADER + "A0201,360100,2024,10,亿元\n", encoding="utf-8")
    run(resource, DAY1)
    deliver(folder / "b_revision.csv", HEADER + "A0201,360100,2024,11,亿元\n", encoding="utf-8")
    run(resource, DAY2)
    assert dbs.query("SELECT value FROM base_macro_economy.indicator_value") == [(Decimal("11"),)]
    # a restore gives the original a newer modification time than its revision
    os.utime(folder / "b_revision.csv", (1_700_000_000, 1_700_000_000))
    os.utime(folder / "a_original.csv", (1_750_000_000, 1_750_000_000))

    again = run(resource, (DAY2[1], DAY2[1] + (DAY2[1] - DAY2[0])), mode="full")

    assert_accounted(again)
    assert again["rows_updated"] == 0
    assert dbs.query("SELECT value FROM base_macro_economy.indicator_value") == [(Decimal("11"),)]
    assert deliveries(dbs, VALUES)["a_original.csv"]["rows_superseded"] == 1


def test_timeliness_comes_from_the_latest_loaded_delivery_even_on_a_run_without_files(dbs, landing):
    import os

    from tests.conftest import DAY2

    folder = values_dir(landing)
    deliver(folder / "old.csv", HEADER + good_rows(2), encoding="utf-8")
    os.utime(folder / "old.csv", (1_700_000_000, 1_700_000_000))  # delivered in November 2023
    resource = catalog_entry("base_macro_economy.indicator_value")
    first = run(resource, DAY1)
    again = run(resource, DAY2)  # nothing new in the landing folder

    metrics = dict(dbs.query("SELECT load_id, within_update_cycle FROM evaluation.sync_metrics "
                             "WHERE resource_code = %s", (VALUES,)))
    newest = dbs.query("SELECT DISTINCT extract(epoch FROM newest_source_update) FROM evaluation.sync_metrics "
                       "WHERE resource_code = %s", (VALUES,))
    assert newest == [(Decimal("1700000000"),)]
    assert metrics[first["load_id"]] is False and metrics[again["load_id"]] is False  # 每月, and years late
