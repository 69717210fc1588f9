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
        tabular.parse(values_resource, tabular.read_csv(TEXT + "1,2\n"), "x.csv")
    with pytest.raises(UnreadableFile, match=r"计量单位\(unit\)"):
        tabular.parse(values_resource, tabular.read_csv("指标代码,地区代码,时期,数值\nA0201,360000,2025,1\n"), "x.csv")


def test_not_a_workbook_is_unreadable():
    with pytest.raises(UnreadableFile, match="not a readable Excel workbook"):
        tabular.read_excel(TEXT.encode("utf-8"))


def test_excel_numbers_become_exact_text():
    assert [tabular.cell_text(v) for v in (1.0, 0.1, 1234567.891, 12, True, dt.datetime(2025, 1, 2), "  x ")] == \
        ["1", "0.1", "1234567.891", "12", "true", "2025-01-02", "x"]


def test_excel_escaped_characters_are_read_as_excel_means_them():
    """Excel stores a CR as _x000D_ and a literal "_x" as _x005F_x (ECMA-376 ST_Xstring)."""
    workbook = openpyxl.Workbook()
    workbook.active.append(["备注", "第一行_x000D_\n第二行", "_x005F_x000D_ stays literal", "tab_x0009_here"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    (sheet,) = tabular.read_excel(buffer.getvalue())
    assert sheet.rows[0][1][1:] == ["第一行\r\n第二行", "_x000D_ stays literal", "tab\there"]


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


# --- issue 8: header rows, footnotes, blank headers, NUL, bilingual reasons ------------------------
def xlsx(*rows, merged=()) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(list(row))
    for cells in merged:
        book.active.merge_cells(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def records(parsed, *names) -> list[tuple]:
    return list(zip(*(parsed.column(n) for n in names)))


@pytest.mark.parametrize("top, parts, expected", [
    (["2024年", "", "2025年", ""], ["一季度", "二季度", "一季度", "二季度"], ["2024Q1", "2024Q2", "2025Q1", "2025Q2"]),
    (["2024", "", "", ""], ["Q1", "Q2", "Q3", "Q4"], ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]),
    (["2025年", "", "", ""], ["第一季度", "第二季度", "3季度", "四季度"], ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]),
    (["2025年", "", "", "2024年"], ["1月", "2月", "12月", "全年"], ["2025-01", "2025-02", "2025-12", "2024"]),
    (["2023年", "2024年", "", "备注"], ["", "一季度", "二季度", ""], ["2023", "2024Q1", "2024Q2"]),
])
def test_a_csv_year_row_over_a_period_part_row_combines_into_periods(values_resource, top, parts, expected):
    text = (",".join(["指标代码", "地区代码", "计量单位", *top]) + "\n" + ",".join(["", "", "", *parts]) + "\n"
            + ",".join(["A0201", "360100", "亿元", "1", "2", "3", "4" if top[-1] != "备注" else ""]) + "\n")
    parsed = tabular.parse(values_resource, tabular.read_csv(text), "q.csv")
    assert parsed.column("period") == expected
    assert parsed.column("value") == ["1", "2", "3", "4"][:len(expected)]
    assert parsed.refs[-1] == f"q.csv line 3 column {expected[-1]}"
    assert set(parsed.column("period_type")) <= {"Y", "Q", "M"}


def test_an_excel_two_row_header_with_merged_cells_combines(values_resource):
    data = xlsx(["指标代码", "地区代码", "计量单位", "2024年", None, "备注"],
                [None, None, None, "一季度", "二季度", None],
                ["A0201", "360100", "亿元", 100, 110, "初步"],
                merged=["A1:A2", "B1:B2", "C1:C2", "D1:E1", "F1:F2"])
    parsed = tabular.parse(values_resource, tabular.read_excel(data), "q.xlsx")
    assert records(parsed, "period", "value", "period_type") == [("2024Q1", "100", "Q"), ("2024Q2", "110", "Q")]
    assert parsed.refs == ["q.xlsx!Sheet row 3 column 2024Q1", "q.xlsx!Sheet row 3 column 2024Q2"]
    assert parsed.ignored_columns == ["备注"]


@pytest.mark.parametrize("parts", [["上半年", "下半年"], ["一季度", "累计"], ["本期", "同期"]])
def test_a_two_row_header_that_does_not_combine_is_unreadable_naming_both_rows(values_resource, parts):
    data = xlsx(["指标代码", "地区代码", "计量单位", "2024年", None], [None, None, None, *parts],
                ["A0201", "360100", "亿元", 100, 110], merged=["D1:E1"])
    with pytest.raises(UnreadableFile) as caught:
        tabular.parse(values_resource, tabular.read_excel(data), "h.xlsx")
    message = str(caught.value)
    assert "第 1、2 行" in message and "rows 1 and 2" in message and parts[-1] in message


def test_a_data_row_with_blank_keys_under_the_header_is_a_record_not_a_second_header(values_resource):
    parsed = tabular.parse(values_resource, tabular.read_csv(TEXT.split("\n")[0] + "\n,,2024,5,亿元\n"), "x.csv")
    assert records(parsed, "indicator_code", "period", "value") == [(None, "2024", "5")]


def test_the_header_is_found_below_title_rows_and_footnotes_are_accounted(values_resource):
    text = ("2024年江西省主要指标,,,,\n,,,,\n" + TEXT + "A0201,360100,2025,2.5,亿元\n,,,,\n"
            "注：2025年为初步数。,,,,\n资料来源：省统计局\n")
    parsed = tabular.parse(values_resource, tabular.read_csv(text), "t.csv")
    assert records(parsed, "region_code", "value") == [("360000", "1.5"), ("360100", "2.5")]
    assert parsed.refs == ["t.csv line 4", "t.csv line 5"]
    assert parsed.ignored_rows == ["line 1: 2024年江西省主要指标", "line 7: 注：2025年为初步数。", "line 8: 资料来源：省统计局"]


def test_an_excel_title_row_merged_over_the_header_width(values_resource):
    data = xlsx(["2024年江西省各设区市年末常住人口"], [], ["指标代码", "地区代码", "时期", "数值", "计量单位"],
                ["A0301", "360100", "2024", 400, "万人"], ["说明：口径同上年。"], merged=["A1:E1"])
    parsed = tabular.parse(values_resource, tabular.read_excel(data), "t.xlsx")
    assert records(parsed, "region_code", "value") == [("360100", "400")]
    assert parsed.ignored_rows == ["Sheet row 1: 2024年江西省各设区市年末常住人口", "Sheet row 5: 说明：口径同上年。"]


def test_no_row_matching_the_catalog_is_unreadable_naming_the_row_taken(values_resource):
    with pytest.raises(UnreadableFile) as caught:
        tabular.parse(values_resource, tabular.read_csv("标题\n区划,人口\n360100,400\n"), "x.csv")
    message = str(caught.value)
    assert "第 1 行" in message and "line 1" in message and "标题" in message and "matches no catalog item" in message


def test_a_filled_column_without_a_header_is_accounted(values_resource):
    text = TEXT.replace("\n", ",\n", 1).replace("亿元\n", "亿元,初步\n")
    parsed = tabular.parse(values_resource, tabular.read_csv(text), "x.csv")
    assert parsed.ignored_columns == ["column F (no header)"]
    empty = tabular.parse(values_resource, tabular.read_csv(TEXT.replace("\n", ",\n")), "x.csv")
    assert empty.ignored_columns == []


def test_a_wide_row_without_any_value_is_accounted(values_resource):
    data = xlsx(["指标代码", "地区代码", "计量单位", "2025Q1"], ["A0201", "360000", "亿元", 1],
                ["A0201", "360100", "亿元", None])
    parsed = tabular.parse(values_resource, tabular.read_excel(data), "w.xlsx")
    assert parsed.rows == 1 and parsed.ignored_rows == [
        "Sheet row 3: A0201 | 360100 | 亿元 (各时期列均无数值 / no value in any period column)"]


def test_a_nul_character_passes_the_decoder_and_the_csv_reader_to_the_row_rules(values_resource):
    data = (TEXT + "A0201,360100,2024,7203.5\x00,亿元\n").encode("gbk")
    text, used = encoding.decode(data)
    assert used == "gbk" and "7203.5\x00" in text
    parsed = tabular.parse(values_resource, tabular.read_csv(text), "n.csv")
    assert parsed.column("value") == ["1.5", "7203.5\x00"]


def bilingual(message: str) -> bool:
    """"中文 / English": Chinese before the first " / ", English words after it."""
    chinese, _, english = message.partition(" / ")
    return any("\u4e00" <= c <= "\u9fff" for c in chinese) and sum(c.isascii() and c.isalpha() for c in english) > 10


@pytest.mark.parametrize("read", [
    lambda r: encoding.decode(b"abc\x80\xff\x81\x20def"),
    lambda r: encoding.decode(TEXT.encode("gbk"), "utf-8"),
    lambda r: encoding.decode(b"\xef\xbb\xbf\xff"),
    lambda r: tabular.read_csv('a,b,c\n1,2,"南昌市青'),
    lambda r: tabular.read_csv(""),
    lambda r: tabular.read_excel(TEXT.encode("utf-8")),
    lambda r: tabular.parse(r, tabular.read_csv("指标代码,地区代码,时期,数值\nA0201,360000,2025,1\n"), "x.csv"),
    lambda r: tabular.parse(r, tabular.read_csv("指标代码,地区代码,时期,数值,计量单位\n1,2,3\n"), "x.csv"),
    lambda r: tabular.parse(r, tabular.read_csv("指标代码,指标编码,地区代码,时期,数值,计量单位\n"), "x.csv"),
])
def test_every_unreadable_file_reason_is_bilingual(values_resource, read):
    with pytest.raises(UnreadableFile) as caught:
        read(values_resource)
    assert bilingual(str(caught.value)), str(caught.value)


# --- a quarter is never taken for its year (review defect 1) -----------------------------------
def merged_year_book(second_row: list | None) -> bytes:
    """指标代码 | 地区代码 | 计量单位 | 2024年 (D1:E1) | 2025年 (F1:G1) | 备注, an optional second
    header row, and the data row A01, 360000, 亿元, 10, 20, 30, 40."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["指标代码", "地区代码", "计量单位", "2024年", None, "2025年", None, "备注"])
    if second_row is not None:
        sheet.append(second_row)
    sheet.append(["A01", "360000", "亿元", 10, 20, 30, 40])
    sheet.merge_cells("D1:E1")
    sheet.merge_cells("F1:G1")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def periods_and_values(parsed) -> list[tuple]:
    return list(zip(parsed.column("period"), parsed.column("value"), parsed.column("unit")))


QUARTERS = [("2024Q1", "10", "亿元"), ("2024Q2", "20", "亿元"), ("2025Q1", "30", "亿元"), ("2025Q2", "40", "亿元")]


@pytest.mark.parametrize("second", [
    ["—", "—", "(亿元)", "一季度", "二季度", "一季度", "二季度"],  # a unit under an item column
    ["—", "—", "—", "一季度", "二季度", "一季度", "二季度"],       # dashes under the item columns
    [None, "—", None, "第一季度", "第二季度", "Q1", "Q2"],
])
def test_cells_under_item_columns_do_not_hide_a_second_header_row(values_resource, second):
    parsed = tabular.parse(values_resource, tabular.read_excel(merged_year_book(second)), "q.xlsx")
    assert periods_and_values(parsed) == QUARTERS
    assert parsed.refs == [f"q.xlsx!Sheet row 3 column {p}" for p, _, _ in QUARTERS]
    assert parsed.ignored_columns == ["备注"] and parsed.ignored_rows == []


def test_the_same_in_csv_with_dashes_under_the_item_columns(values_resource):
    text = "指标代码,地区代码,计量单位,2024年,,2025年,,备注\n—,—,（亿元）,一季度,二季度,一季度,二季度,\n" \
           "A01,360000,亿元,10,20,30,40,\n"
    parsed = tabular.parse(values_resource, tabular.read_csv(text), "q.csv")
    assert periods_and_values(parsed) == QUARTERS


@pytest.mark.parametrize("second", [
    ["—", "—", "—", 1, 2, 1, 2],  # numbers: quarters or months? not said
    None,                          # no second row at all: the merged cells hold data under a year
])
def test_data_under_the_blank_part_of_a_merged_year_header_rejects_the_file(values_resource, second):
    with pytest.raises(UnreadableFile) as raised:
        tabular.parse(values_resource, tabular.read_excel(merged_year_book(second)), "q.xlsx")
    reason = str(raised.value)
    assert "第 1 行" in reason and "row 1" in reason and "E" in reason and "G" in reason and "2024年" in reason


@pytest.mark.parametrize("second", [",,,1,2,1,2,", "—,—,—,1,2,1,2,", ",,,10,11,10,11,"])
def test_bare_numbers_under_a_year_in_csv_are_not_taken_for_quarters_or_months(values_resource, second):
    text = f"指标代码,地区代码,计量单位,2024年,,2025年,,备注\n{second}\nA01,360000,亿元,10,20,30,40,\n"
    with pytest.raises(UnreadableFile, match="row|line"):
        tabular.parse(values_resource, tabular.read_csv(text), "q.csv")


def test_a_wide_csv_data_row_with_a_dash_is_still_data(values_resource):
    parsed = tabular.parse(values_resource, tabular.read_csv(
        "指标代码,地区代码,计量单位,2024,2025\nA01,360000,亿元,—,30\nA01,360100,亿元,5,6\n"), "w.csv")
    assert periods_and_values(parsed) == [("2024", "—", "亿元"), ("2025", "30", "亿元"), ("2024", "5", "亿元"),
                                          ("2025", "6", "亿元")]


# --- NUL outside a data field is shown as ␀ (review defect 5) -----------------------------------
def test_nul_in_titles_headers_and_empty_wide_rows_is_shown_not_kept(values_resource):
    text = ("江西\x00统计,,,,,\n指标代码,地区代码,计量单位,2025\x00Q1,2025Q2,备\x00注\n"
            "A01,360000,亿元,1,2,x\nA01,360100,亿\x00元,,,\n")
    parsed = tabular.parse(values_resource, tabular.read_csv(text), "n\x00.csv")
    shown = [*parsed.refs, *parsed.ignored_columns, *parsed.ignored_rows]
    assert not any("\x00" in s for s in shown), shown
    assert parsed.ignored_columns == ["备␀注"]
    assert parsed.ignored_rows == ["line 1: 江西␀统计", "line 4: A01 | 360100 | 亿␀元 (各时期列均无数值 / no value in any "
                                                    "period column)"]
    assert parsed.refs == ["n␀.csv line 3 column 2025␀Q1", "n␀.csv line 3 column 2025Q2"]
    assert parsed.column("unit") == ["亿元", "亿元"]  # values keep their NUL: the row rules quarantine them
