"""Issue 8 for file drops, against real PostgreSQL with the real-world inputs in
``tests/fixtures/real_world``: a two-row Excel header, a title row above the header, a NUL
byte in a CSV field, a file still being written, a file that vanishes, 3D GeoJSON."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import shapely

from baselib_simulators.delivery import deliver
from baselib.sources.file_drop.source import FileDropSource
from tests.conftest import DAY1, DAY2, REAL_WORLD
from tests.integration.file_drop_helpers import (
    assert_deliveries_accounted, deliveries, quarantine_reasons, settling_at_once,
)
from tests.integration.pipeline_helpers import assert_accounted, catalog_entry, load_snapshot, run

CASES = REAL_WORLD
VALUES = "104001/000002"
PREFECTURES = ["360100", "360200", "360300", "360400", "360500", "360600", "360700", "360800", "360900", "361000",
               "361100"]
HEADER = "指标代码,地区代码,时期,数值,计量单位\n"



def values_folder(landing: Path) -> Path:
    """The statistics bureau's landing folder, with its indicator catalogue (the real one) loaded."""
    indicators = landing / "statistics" / "indicator"
    indicators.mkdir(parents=True)
    deliver(indicators / "indicators.csv", (CASES / "indicators.gbk.csv").read_bytes())
    assert run(catalog_entry("base_macro_economy.indicator"), DAY1)["rows_inserted"] == 2
    folder = landing / "statistics" / "indicator_value"
    folder.mkdir(parents=True)
    return folder


def stored_values(dbs) -> dict[tuple, tuple]:
    return {(i, r, p): (v, u, t, str(s), str(e)) for i, r, p, v, u, t, s, e in dbs.query(
        "SELECT indicator_code, region_code, period, value, unit, period_type, period_start, period_end "
        "FROM base_macro_economy.indicator_value")}


def delivery_row(dbs, name: str) -> dict:
    names = ["status", "reason", "ignored_columns", "ignored_rows", "rows_read"]
    row = dbs.query(f"SELECT {', '.join(names)} FROM ops.file_delivery WHERE path LIKE %s "
                    "ORDER BY delivery_id DESC LIMIT 1", (f"%/{name}",))
    return dict(zip(names, row[0])) if row else {}


# --- 1. two-row Excel headers -------------------------------------------------------------------
def test_a_year_over_quarter_header_loads_quarters_never_years(dbs, landing):
    folder = values_folder(landing)
    deliver(folder / "gdp.xlsx", (CASES / "indicator-value-year-over-quarter-header.xlsx").read_bytes())

    summary = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    assert_accounted(summary)
    ends = {"Q1": "-03-31", "Q2": "-06-30"}
    starts = {"Q1": "-01-01", "Q2": "-04-01"}
    expected = {("A0201", code, f"{year}{q}"): (Decimal(base + r), "亿元", "Q", f"{year}{starts[q]}", f"{year}{ends[q]}")
                for r, code in enumerate(PREFECTURES)
                for year, q, base in ((2024, "Q1", 100), (2024, "Q2", 110), (2025, "Q1", 120), (2025, "Q2", 130))}
    assert stored_values(dbs) == expected  # every filled cell, each as its quarter; no annual value at all
    assert summary["rows_inserted"] == 44 and summary["rows_quarantined"] == 0
    assert delivery_row(dbs, "gdp.xlsx")["ignored_columns"] == ["备注"]
    assert_deliveries_accounted(dbs, VALUES)


def test_a_two_row_header_that_does_not_combine_rejects_the_file_naming_both_rows(dbs, landing):
    folder = values_folder(landing)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["指标代码", "地区代码", "计量单位", "2024年", None])
    sheet.append([None, None, None, "上半年", "下半年"])
    sheet.append(["A0201", "360100", "亿元", 100, 110])
    sheet.merge_cells("D1:E1")
    book.save(folder / "halves.xlsx")
    deliver(folder / "halves.xlsx", (folder / "halves.xlsx").read_bytes())

    summary = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    assert_accounted(summary)
    entry = delivery_row(dbs, "halves.xlsx")
    assert entry["status"] == "rejected"
    assert "第 1、2 行" in entry["reason"] and "rows 1 and 2" in entry["reason"] and "上半年" in entry["reason"]
    assert stored_values(dbs) == {}


# --- 3. Excel title rows ------------------------------------------------------------------------
def test_a_title_row_above_the_header_is_skipped_and_accounted_and_the_data_loads(dbs, landing):
    folder = values_folder(landing)
    deliver(folder / "population.xlsx", (CASES / "indicator-value-title-row.xlsx").read_bytes())

    summary = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    assert_accounted(summary)
    assert stored_values(dbs) == {("A0301", code, "2024"): (Decimal(400 + r), "万人", "Y", "2024-01-01", "2024-12-31")
                                  for r, code in enumerate(PREFECTURES)}
    entry = delivery_row(dbs, "population.xlsx")
    assert entry["status"] == "loaded" and entry["rows_read"] == 11
    # the title and both footnotes are not records, but they are not lost either
    assert entry["ignored_rows"] == [
        "Sheet1 row 1: 2024年江西省各设区市年末常住人口",
        "Sheet1 row 15: 注：本表数据为年末常住人口，按第七次人口普查口径推算。",
        "Sheet1 row 16: 资料来源：省统计局。",
    ]
    assert_deliveries_accounted(dbs, VALUES)


def test_a_sheet_whose_rows_match_no_catalog_item_is_rejected_saying_which_row_was_taken(dbs, landing):
    folder = values_folder(landing)
    deliver(folder / "other.csv", "2024年江西省各设区市年末常住人口,,\n区划,人口,年份\n360100,400,2024\n", encoding="gbk")

    run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    reason = delivery_row(dbs, "other.csv")["reason"]
    assert "第 1 行" in reason and "line 1" in reason and "matches no catalog item" in reason


# --- 2. NUL in a CSV field ----------------------------------------------------------------------
def test_a_nul_byte_in_a_csv_field_quarantines_that_row_and_the_rest_loads_on_every_run(dbs, landing):
    folder = values_folder(landing)
    deliver(folder / "values.csv", (CASES / "indicator-value-nul-byte.gbk.csv").read_bytes())
    resource = catalog_entry("base_macro_economy.indicator_value")

    summary = run(resource, DAY1)

    assert_accounted(summary)
    assert summary["rows_inserted"] == 11 and summary["rows_quarantined"] == 1
    assert stored_values(dbs) == {("A0301", code, "2024"): (Decimal(400 + r), "万人", "Y", "2024-01-01", "2024-12-31")
                                  for r, code in enumerate(PREFECTURES)}
    reason = quarantine_reasons(dbs, VALUES)["A0201/360100/2024"]
    assert "NUL" in reason and "0x00" in reason
    assert deliveries(dbs, VALUES)["values.csv"]["status"] == "loaded"
    assert_deliveries_accounted(dbs, VALUES)

    before = load_snapshot(dbs, resource)
    again = run(resource, DAY2)
    assert again["status"] == "success" and again["rows_inserted"] == again["rows_updated"] == 0
    assert load_snapshot(dbs, resource)[:2] == before[:2]


# --- 4. a file still being written --------------------------------------------------------------
def test_a_file_caught_mid_write_is_left_in_place_and_loads_once_finished(dbs, landing):
    folder = values_folder(landing)
    rows = [f"A0301,{code},2024,{400 + r},万人\n" for r, code in enumerate(PREFECTURES[:6])]
    path = folder / "growing.csv"
    path.write_bytes((HEADER + "".join(rows[:5]) + rows[5][:9]).encode("gbk"))  # header, 5 rows, part of row 6
    resource = catalog_entry("base_macro_economy.indicator_value")

    first = run(resource, DAY1)

    assert_accounted(first)
    assert first["rows_extracted"] == 0
    assert path.exists() and not (folder / "_rejected").exists()
    assert deliveries(dbs, VALUES) == {}  # not a delivery yet: nothing recorded, nothing rejected

    deliver(path, HEADER + "".join(rows), encoding="gbk")  # the writer finished a while ago
    second = run(resource, DAY2)

    assert_accounted(second)
    assert second["rows_inserted"] == 6
    assert deliveries(dbs, VALUES)["growing.csv"]["status"] == "loaded"


def test_a_recent_excel_file_is_skipped_and_an_old_truncated_file_is_still_rejected(dbs, landing):
    folder = values_folder(landing)
    book = openpyxl.Workbook()
    book.active.append(["indicator_code", "region_code", "period", "value", "unit"])
    book.active.append(["A0301", "360100", "2024", 400, "万人"])
    book.save(folder / "recent.xlsx")
    data = (folder / "recent.xlsx").read_bytes()
    deliver(folder / "old_truncated.xlsx", data[: len(data) // 2])  # stable for an hour: really truncated

    summary = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    assert_accounted(summary)
    files = deliveries(dbs, VALUES)
    assert set(files) == {"old_truncated.xlsx"} and files["old_truncated.xlsx"]["status"] == "rejected"
    assert (folder / "recent.xlsx").exists()


def test_the_settle_age_is_a_catalog_setting(dbs, landing):
    folder = values_folder(landing)
    resource = settling_at_once(catalog_entry("base_macro_economy.indicator_value"))
    (folder / "fresh.csv").write_text(HEADER + "A0301,360100,2024,400,万人\n", encoding="utf-8")

    assert run(resource, DAY1)["rows_inserted"] == 1


def test_a_file_that_vanishes_between_listing_and_reading_is_skipped(dbs, landing, caplog):
    folder = values_folder(landing)
    resource = catalog_entry("base_macro_economy.indicator_value")
    deliver(folder / "a.csv", HEADER + "A0301,360100,2024,400,万人\n", at=DAY1[0] - dt.timedelta(hours=2))
    deliver(folder / "b.csv", HEADER + "A0301,360200,2024,401,万人\n", at=DAY1[0] - dt.timedelta(hours=1))
    source = FileDropSource(resource, load_id=0)

    listed = source._deliveries_in_order()
    first = next(listed)            # the folder was listed (a and b), and a read
    (folder / "b.csv").unlink()     # b is taken away before it is read
    rest = list(listed)

    assert first[0].name == "a.csv" and rest == []
    assert "b.csv" in caplog.text and "vanished" in caplog.text


def xy(coordinates: list) -> list:
    """GeoJSON coordinates with every position cut to x, y."""
    return coordinates[:2] if isinstance(coordinates[0], float) else [xy(c) for c in coordinates]


# --- 1. 3D GeoJSON ------------------------------------------------------------------------------
def test_3d_geojson_is_stored_in_2d_in_every_form(dbs, landing, monkeypatch):
    monkeypatch.setenv("BASELIB_POSTGIS", "off")
    folder = landing / "natural_resources" / "admin_division"
    folder.mkdir(parents=True)

    def square(x, y, z=None):
        ring = [[x, y], [x + 0.1, y], [x + 0.1, y + 0.1], [x, y + 0.1], [x, y]]
        return [[*p, z] if z is not None else p for p in ring]

    geometries = {
        "360102": {"type": "Polygon", "coordinates": [square(115.9, 28.6, 25.0)]},
        "360103": {"type": "MultiPolygon", "coordinates": [[square(115.7, 28.6, 30.0)], [square(115.5, 28.6, 31.0)]]},
        # mixed: some positions with z, some without
        "360104": {"type": "Polygon", "coordinates": [square(115.3, 28.6, 12.5)[:2] + square(115.3, 28.6)[2:]]},
        "360111": {"type": "MultiPolygon", "coordinates": [  # two halves sharing an edge: repaired losslessly
            [[[x, 28.5, 8.0], [x + 0.25, 28.5, 8.0], [x + 0.25, 28.75, 8.0], [x, 28.75, 8.0], [x, 28.5, 8.0]]]
            for x in (115.0, 115.25)]},
    }
    names = {"360102": "东湖区", "360103": "西湖区", "360104": "青云谱区", "360111": "青山湖区"}
    features = [{"type": "Feature", "properties": {"division_code": code, "division_name": names[code], "level": "县级",
                                                   "parent_code": "360100"}, "geometry": g}
                for code, g in geometries.items()]
    document = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:4490"}},
                "features": features}
    deliver(folder / "boundaries_3d.geojson", json.dumps(document, ensure_ascii=False))

    summary = run(catalog_entry("base_spatial.admin_division"), DAY1)

    assert_accounted(summary)
    assert summary["rows_inserted"] == 4, quarantine_reasons(dbs, "103001/000001")
    for code, wkb, geojson, box, repaired in dbs.query(
            "SELECT division_code, encode(boundary, 'hex'), boundary_geojson, "
            "ARRAY[bbox_min_lon, bbox_min_lat, bbox_max_lon, bbox_max_lat], boundary_repaired "
            "FROM base_spatial.admin_division"):
        stored = shapely.from_wkb(bytes.fromhex(wkb))
        from_json = shapely.from_geojson(geojson)
        assert not stored.has_z and not from_json.has_z, code
        assert shapely.equals_exact(stored, from_json, 0), code
        assert list(stored.bounds) == pytest.approx(box)
        assert repaired == (code == "360111")
        flat = shapely.geometry.shape({**geometries[code], "coordinates": xy(geometries[code]["coordinates"])})
        assert shapely.equals(stored, flat), code
    ignored = dbs.scalar("SELECT ignored_columns FROM ops.file_delivery WHERE path LIKE '%%boundaries_3d.geojson'")
    assert any("z" in entry and "2D" in entry for entry in ignored), ignored


# --- NUL outside a data field: shown as ␀, never failing the run (review defect 5) --------------
def test_nul_in_a_title_row_and_an_unmapped_header_is_shown_and_the_data_loads(dbs, landing):
    folder = values_folder(landing)
    deliver(folder / "titled.csv", "江西\x00统计,,,,,\n" + HEADER.rstrip("\n") + ",备\x00注\nA0301,360100,2024,400,万人,x\n",
            encoding="gbk")
    deliver(folder / "plain.csv", HEADER + "A0301,360200,2024,401,万人\n", encoding="gbk")

    summary = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    assert_accounted(summary)
    assert summary["status"] == "success" and summary["rows_inserted"] == 2
    entry = delivery_row(dbs, "titled.csv")
    assert entry["status"] == "loaded"
    assert entry["ignored_rows"] == ["line 1: 江西␀统计"] and entry["ignored_columns"] == ["备␀注"]
    assert_deliveries_accounted(dbs, VALUES)


def test_a_rejection_reason_quoting_a_nul_is_recorded_with_it_shown(dbs, landing):
    folder = values_folder(landing)
    deliver(folder / "other.csv", "区划\x00名称,人口\n360100,400\n", encoding="gbk")
    deliver(folder / "plain.csv", HEADER + "A0301,360200,2024,401,万人\n", encoding="gbk")

    summary = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    assert_accounted(summary)
    assert summary["rows_inserted"] == 1
    entry = delivery_row(dbs, "other.csv")
    assert entry["status"] == "rejected" and "区划␀名称" in entry["reason"] and "matches no catalog item" in entry["reason"]
    assert (folder / "_rejected").is_dir() and not (folder / "other.csv").exists()


def test_a_nul_in_a_wide_period_header_quarantines_its_cells_and_the_rest_loads(dbs, landing):
    folder = values_folder(landing)
    years = range(2019, 2025)  # five good period columns and one whose header holds a NUL (under the 20% limit)
    deliver(folder / "wide.csv", "指标代码,地区代码,计量单位," + ",".join(map(str, years)) + ",2025\x00\n"
            "A0301,360100,万人," + ",".join("400" for _ in years) + ",401\n", encoding="gbk")

    summary = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    assert_accounted(summary)
    assert stored_values(dbs) == {("A0301", "360100", f"{y}"): (Decimal(400), "万人", "Y", f"{y}-01-01", f"{y}-12-31")
                                  for y in years}
    assert summary["rows_quarantined"] == 1
    refs = [r for (r,) in dbs.query("SELECT source_ref FROM ops.quarantine WHERE resource_code = %s", (VALUES,))]
    assert refs == ["wide.csv line 2 column 2025␀"]
    assert delivery_row(dbs, "wide.csv")["status"] == "loaded"
    assert_deliveries_accounted(dbs, VALUES)
