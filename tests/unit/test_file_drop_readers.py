"""File-drop readers without a database: encodings, periods, CSV/Excel layouts, catalog rules."""
from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest

from baselib.catalog import load_catalog
from baselib.catalog.model import Resource
from baselib.errors import UnreadableFile
from baselib.sources.file_drop import encoding, periods, tabular

TEXT = "指标代码,地区代码,时期,数值,计量单位\nA0201,360000,2025,1.5,亿元\n"
RARE = "䶮𠀾㙍 place"  # outside GBK: only GB18030 and UTF-8 hold them


@pytest.fixture(scope="module")
def values_resource() -> Resource:
    return next(r for r in load_catalog() if r.pipeline.target.qualified == "base_macro_economy.indicator_value")


@pytest.mark.parametrize("codec, detected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gbk")])
def test_detects_and_round_trips_each_encoding(codec, detected):
    text, used = encoding.decode(TEXT.encode(codec))
    assert (text, used) == (TEXT, detected)


def test_gb18030_only_characters_round_trip():
    data = (TEXT + RARE).encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("gbk")
    assert encoding.decode(data) == (TEXT + RARE, "gb18030")


def test_declared_encoding_is_strict():
    with pytest.raises(UnreadableFile, match="cannot decode as utf-8"):
        encoding.decode(TEXT.encode("gbk"), "utf-8")
    assert encoding.decode(TEXT.encode("gbk"), "gbk") == (TEXT, "gbk")


def test_undecodable_and_truncated_bytes_are_unreadable():
    with pytest.raises(UnreadableFile, match="not valid UTF-8, GBK or GB18030"):
        encoding.decode(b"abc\x80\xff\x81\x20def")
    with pytest.raises(UnreadableFile, match="truncated"):
        encoding.decode("地区生产总值".encode("gbk")[:-1])


@pytest.mark.parametrize("raw, text, kind, start, end", [
    ("2025", "2025", "Y", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    ("2025年", "2025", "Y", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    (2024, "2024", "Y", dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
    ("2025Q3", "2025Q3", "Q", dt.date(2025, 7, 1), dt.date(2025, 9, 30)),
    ("2025年第四季度", "2025Q4", "Q", dt.date(2025, 10, 1), dt.date(2025, 12, 31)),
    ("2024-02", "2024-02", "M", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
    ("2025年10月", "2025-10", "M", dt.date(2025, 10, 1), dt.date(2025, 10, 31)),
    ("202510", "2025-10", "M", dt.date(2025, 10, 1), dt.date(2025, 10, 31)),
    (dt.datetime(2025, 10, 1), "2025-10", "M", dt.date(2025, 10, 1), dt.date(2025, 10, 31)),
])
def test_periods_normalise(raw, text, kind, start, end):
    assert periods.parse(raw) == periods.Period(text, kind, start, end)


@pytest.mark.parametrize("raw", ["2025Q5", "2025-13", "2025年第五季度", "abc", "", None, "1800", 3.5])
def test_unparseable_periods(raw):
    assert periods.parse(raw) is None


def test_long_csv_maps_labels_and_reports_extra_columns(values_resource):
    sheets = tabular.read_csv("指标代码,地区代码,时期,数值,计量单位,备注\nA0201,360000,2025年,12.5,亿元,初步\n")
    parsed = tabular.parse(values_resource, sheets, "x.csv")
    assert parsed.columns == {"indicator_code": ["A0201"], "region_code": ["360000"], "period": ["2025"],
                              "value": ["12.5"], "unit": ["亿元"], "period_type": ["Y"],
                              "period_start": ["2025-01-01"], "period_end": ["2025-12-31"]}
    assert parsed.refs == ["x.csv line 2"] and parsed.ignored_columns == ["备注"]


def test_wide_sheet_unpivots_every_filled_period_cell(values_resource):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "GDP"
    sheet.append(["指标代码", "地区代码", "地区名称", "计量单位", "2025Q1", "2025Q2", dt.datetime(2025, 10, 1)])
    sheet.append(["A0201", "360000", "江西省", "亿元", 100.5, 200, None])
    sheet.append(["A0201", "360100", "南昌市", "亿元", 0.1, None, 7])
    buffer = io.BytesIO()
    book.save(buffer)
    parsed = tabular.parse(values_resource, tabular.read_excel(buffer.getvalue()), "w.xlsx")
    got = list(zip(*(parsed.column(c) for c in ("region_code", "period", "period_type", "value"))))
    assert got == [("360000", "2025Q1", "Q", "100.5"), ("360000", "2025Q2", "Q", "200"),
                   ("360100", "2025Q1", "Q", "0.1"), ("360100", "2025-10", "M", "7")]
    assert parsed.refs[-1] == "w.xlsx!GDP row 3 column 2025-10"
    assert parsed.ignored_columns == ["地区名称"]


def test_ragged_csv_and_missing_required_columns_are_unreadable(values_resource):
    with pytest.raises(UnreadableFile, match="line 3 has 2 fields but the header has 5"):
        tabular.read_csv("a,b,c,d,e\n1,2,3,4,5\n1,2\n")
    with pytest.raises(UnreadableFile, match=r"计量单位\(unit\)"):
        tabular.parse(values_resource, tabular.read_csv("指标代码,地区代码,时期,数值\nA0201,360000,2025,1\n"), "x.csv")


def test_not_a_workbook_is_unreadable():
    with pytest.raises(UnreadableFile, match="not a readable Excel workbook"):
        tabular.read_excel(TEXT.encode("utf-8"))


def test_excel_numbers_become_exact_text():
    assert [tabular.cell_text(v) for v in (1.0, 0.1, 1234567.891, 12, True, dt.datetime(2025, 1, 2), "  x ")] == \
        ["1", "0.1", "1234567.891", "12", "true", "2025-01-02", "x"]


def test_a_quoted_field_cut_off_is_unreadable():
    with pytest.raises(UnreadableFile, match="not valid CSV"):
        tabular.read_csv('a,b,c\n1,2,"南昌市青')


def test_an_excel_number_header_is_not_taken_for_a_month(values_resource):
    book = openpyxl.Workbook()
    book.active.append(["indicator_code", "region_code", "unit", 2025.1, 2025])  # typed 2025.10 in Excel
    book.active.append(["A0201", "360000", "亿元", 1, 2])
    buffer = io.BytesIO()
    book.save(buffer)
    parsed = tabular.parse(values_resource, tabular.read_excel(buffer.getvalue()), "w.xlsx")
    assert parsed.column("period") == ["2025.1 (an Excel number, not a period)", "2025"]
    assert parsed.column("period_type") == [None, "Y"]
