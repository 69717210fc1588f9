"""Differential test of the fast path (``baselib.validation.vectorised``) against GX 1.24 itself.

Every expectation type in ``vectorised.SUPPORTED`` runs on crafted frames through a real GX
ephemeral context (pandas datasource, result_format COMPLETE with unexpected_index_column_names)
and through ``vectorised.evaluate``; both must give the same failing row ids, the same success
and the same element count (or both raise). The frames hold the edge cases: NULL as None, NaN
and NaT, empty and blank text, non-string objects, full-width and CJK characters, boundary
values; cases cover ``mostly``, ``row_condition`` and ``$PARAMETER``. Each frame is validated
once with one suite holding all of its cases, in one GX context for the module.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baselib.geometry import shapes
from baselib.identifiers import certificate_id, citizen_id, credit_code
from baselib.validation import vectorised
from baselib.validation.suites import NUMERIC_TEXT

ROW = "_row"
REPO = Path(__file__).resolve().parents[2]
AS_OF = "2026-11-01T00:00:00+00:00"


# --- identifiers to build the frames from --------------------------------------------------------
def make_id(division: str, born: str, seq: int) -> str:
    body = f"{division}{born}{seq:03d}"
    return body + citizen_id.check_character(body)


def make_credit(pair: str, division: str, org8: str) -> str:
    org = org8 + credit_code.org_check_character(org8)
    body = pair + division + org
    return body + credit_code.check_character(body)


def make_cert(type_code: str, issuer: str, serial: str, version: str = "001") -> str:
    body = type_code + issuer + serial + version
    return f"{certificate_id.PREFIX}{type_code}.{issuer}.{serial}.{version}.{certificate_id.check_character(body)}"


def other_last(value: str, alphabet: str) -> str:
    return value[:-1] + next(ch for ch in alphabet if ch != value[-1])


ID_M = make_id("360426", "19800101", 11)      # odd sequence: male
ID_F = make_id("110105", "19491231", 2)       # even sequence: female
ID_X = next(make_id("340524", "19800101", s) for s in range(1, 999) if make_id("340524", "19800101", s)[-1] == "X")
CC = make_credit("91", "110108", "55138508")
CC_N = make_credit("N1", "360426", "MA35ABCD")
CC_UNKNOWN_DIV = make_credit("91", "990101", "55138508")
CC_BAD_PAIR = make_credit("B1", "110108", "55138508")
CC_BAD_ORG = (lambda body: body + credit_code.check_character(body))(CC[:16] + other_last(CC[8:17], "0123456789")[-1])
CERT = make_cert("11100000000013338W001", "11360000014412345X", "A0001")

# one list per column; every list has N_ROWS values
IDS = [ID_M, ID_F, ID_X, ID_X.lower(), other_last(ID_M, "0123456789X"), make_id("360426", "19990230", 1)[:17] + "0",
       ID_M[:15], "", " ", None, "３６０４２６１９８００１０１００１Ｘ", ID_M + " ", ID_M, ID_F, "张三", None,
       make_id("360426", "20270301", 5), ID_F, ID_M, "123", ID_X, None, ID_M, ID_F]
N_ROWS = len(IDS)
BIRTH = [dt.date(1980, 1, 1), dt.date(1949, 12, 31), dt.date(1980, 1, 2), dt.date(1980, 1, 1), None,
         dt.date(1999, 2, 28), dt.date(1980, 1, 1), None, dt.date(2000, 1, 1), None, dt.date(1980, 1, 1),
         dt.date(1980, 1, 1), dt.date(1981, 1, 1), None, dt.date(1980, 1, 1), dt.date(1980, 1, 1),
         dt.date(2027, 3, 1), dt.date(1949, 12, 31), dt.date(1980, 1, 1), dt.date(1980, 1, 1), dt.date(1980, 1, 1),
         dt.date(1990, 5, 5), dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
SEX = ["1", "2", "1", "2", "1", None, "1", "", "2", "1", "1", "1", "2", "2", "１", "9", "1", "1", "2", "1", "2", "1",
       "1", "2"]
KIND = ["111", "111", "001", "001", "111", None, "414", "111", "", "001", "111", "001", "990", "111", "１１１",
        "111", "001", "111", "001", "111", None, "111", "001", "111"]
HOLDER = [ID_M, other_last(ID_F, "0123456789X"), CC, other_last(CC, credit_code.ALPHABET), "", None, "E12345678",
          ID_M[:15], "x", CC.lower(), "ＡＢＣ", CC_N, "P1", None, ID_M, "", CC, "  ", ID_X, ID_X.lower(), ID_M, CC_N,
          "91110000600037341L", "19800101"]
DIVISION = ["360426", "110103", "990101", "", " ", None, "３６０４２６", "36042", "3604260", "442926", "120110",
            "360426 ", "360426", "360426", "110105", "abcdef", "000000", "110000", "360000", "360400", "360426",
            "360426", None, "110105"]
DIVISION_NAME = ["德安县", "崇文区", "某县", "德安县", "", None, "德安县", "德安县", " 德安县 ", "吴川县", "东郊区",
                 "德安县", "德安", "德安县\u3000", None, "x", "", "北京市", "江西省", "九江市", "九江县", "德 安县",
                 "德安县", "朝阳区"]
CREDIT = [CC, CC_N, CC_UNKNOWN_DIV, CC_BAD_PAIR, CC_BAD_ORG, other_last(CC, credit_code.ALPHABET), CC.lower(),
          CC[:17], CC + "0", "", " ", None, "91110108551385O82Q", "９" * 18, CC.replace("9", "I", 1),
          "91350100M000100Y43", "91110000600037341L", "Y1360426MA35ABCDE", make_credit("51", "110108", "50000000"),
          make_credit("A1", "110108", "ABCDEFGH"), make_credit("91", "442926", "12345678"), CC, None, CC_N]
ORG = [CC[8:17], CC_N[8:17], "12345678X", "", None, "1234567", "ABCDEFGH0", "abcdefgh1", "１２３４５６７８９",
       "55138508", CC_BAD_ORG[8:17], "000000000", "00000000-", "MA35ABCD" + credit_code.org_check_character("MA35ABCD"),
       " " * 9, "XXXXXXXXX", CC[8:17], CC[8:17], None, "123456789", "ZZZZZZZZ" + credit_code.org_check_character("ZZZZZZZZ"),
       "12", "1234567890", CC_N[8:17]]
CERTS = [CERT, other_last(CERT, certificate_id.ALPHABET), CERT.lower(), CERT.replace(".001.", ".01."), "", None,
         "1.2.156.3005.2.A.B.C.001." + certificate_id.check_character("ABC001"), CERT + ".", CERT[:-2], "x",
         CERT.replace("1.2.156", "1.2.157"), "1.2.156.3005.2..B.C.001.0", CERT + "\n", "１.2.156", CERT, CERT, None,
         make_cert("1", "2", "3", "999"), make_cert("ZZ", "Z", "Z"), CERT, " ", CERT, CERT, CERT]
TYPE_CODES = [CC + "001", CC + "01", CC + "0001", other_last(CC, credit_code.ALPHABET) + "001", CC.lower() + "001",
              "", None, CC + "００１", CC + "abc", CC_N + "123", "x", CC + "001 ", " " + CC + "001", CC + "001", None,
              CC[:17] + "0001", "91110000600037341L999", CC + "\n01", CC + "001", CC + "001", "", CC_N + "000",
              CC + "001", CC + "001"]
TEXT = ["abc", "", " ", None, "张三", "ＡＢＣ", "a" * 5, "a" * 6, "12", "12.5", "-3", "+0.5e10", "1e", ".5", "12\n",
        "１２", "\t", "abc\u200b", "ABC", "A12", "A1", "Z" + "9" * 19, "Z" + "9" * 20, "12"]
MIXED = [1, 1.5, "1", True, False, None, float("nan"), "abc", "", "张三", 0, b"xy", dt.date(2026, 1, 1), 12345, -1,
         "１", "True", 2, "2", None, 3.0, "3", 100, "x"]
NUMBER_TEXT = ["100", "0", "-1", "1e8", "1e9", "100000000", "100000000.01", "abc", "", " 5 ", "１００", None, "nan",
               "inf", "-0", "+7", "0x10", "1,000", "3.14", "99999999.99", "1_000", "NaN", None, "5"]
FLOAT = [1.0, 2.5, float("nan"), -1.0, 0.0, 10.0, 10.000001, None, 5.0, 5.0, 3.0, 7.0, 9.999, float("inf"), -0.0, 2.0,
         4.0, 6.0, 8.0, 1.0, 1.0, 0.5, 11.0, 2.0]
INT = [1, 2, 3, 10, 0, -5, 11, 7, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 12, 0]
START = [dt.date(2020, 1, 1), None, dt.date(2020, 1, 1), dt.date(2021, 5, 1), dt.date(2020, 1, 1), None,
         dt.date(2019, 1, 1), dt.date(2020, 2, 29), dt.date(2020, 1, 1), None, dt.date(2020, 1, 1), dt.date(2020, 1, 1),
         dt.date(2020, 1, 1), dt.date(2022, 1, 1), None, dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2020, 1, 1),
         dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2020, 1, 1), None]
MIDDLE = [dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2019, 12, 31), None, dt.date(2021, 1, 1), None,
          dt.date(2019, 6, 1), dt.date(2020, 3, 1), None, dt.date(2020, 1, 1), dt.date(2019, 1, 1), dt.date(2020, 6, 1),
          dt.date(2020, 1, 1), dt.date(2021, 1, 1), dt.date(2020, 1, 1), None, dt.date(2020, 1, 2), dt.date(2020, 1, 1),
          dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2020, 1, 1), dt.date(2020, 1, 1), None]
END_TEXT = ["2021-01-01", None, "2020-01-01", "2021-04-30", "not a date", None, "2019-06-01", "2020-02-28", "2030-12-31",
            "长期", "2018-01-01", "2020-06-01", "", "2020-12-31", "2020-01-01T08:00:00", None, "2020-01-01", "20200101",
            "2020/01/02", "2020-13-01", "2026-11-01", "2026-11-02", "2026-11-01 23:59:59", None]
STATUS = ["有效", "注销", "过期", "有效 ", "", None, "有效", "有效", "失效", "ＶＡＬＩＤ", "有效", "注销", "过期", "有效",
          "有效", "有效", "有效", "有效", "有效", "有效", "有效", "有效", "有效", "x"]
FLAGS = [True, False, None, True, True, True, False, True, None, True, True, True, True, True, True, True, True, True,
         True, True, True, True, False, True]
KEYS = ["k1", "k2", "k3", "k1", "k4", None, "k5", "k6", "k7", "k8", "k9", "k10", "k11", "k12", "k13", "k14", "k15",
        "k16", "k17", "k18", "k19", None, "k20", "k2"]
TEXT_COLUMNS = ["id_number", "sex", "kind", "holder", "division", "division_name", "credit", "org", "cert",
                "type_code", "text", "number_text", "end_text", "status", "key"]


def base_columns() -> dict[str, list]:
    columns = {
        ROW: list(range(N_ROWS)), "id_number": IDS, "birth_date": BIRTH, "sex": SEX, "kind": KIND, "holder": HOLDER,
        "division": DIVISION, "division_name": DIVISION_NAME, "credit": CREDIT, "org": ORG, "cert": CERTS,
        "type_code": TYPE_CODES, "text": TEXT, "mixed": MIXED, "number_text": NUMBER_TEXT, "float": FLOAT, "int": INT,
        "start": START, "middle": MIDDLE, "end_text": END_TEXT, "status": STATUS, "flag": FLAGS, "key": KEYS,
    }
    assert {len(v) for v in columns.values()} == {N_ROWS}, {k: len(v) for k, v in columns.items()}
    return columns


def object_frame() -> pd.DataFrame:
    """Python objects, None as None: how a frame built in Python looks."""
    frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in base_columns().items()})
    frame[ROW] = frame[ROW].astype("int64")
    frame["int"] = frame["int"].astype("int64")
    frame["float"] = frame["float"].astype("float64")
    frame["stamp"] = pd.to_datetime(pd.Series([f"2026-10-{d:02d} 08:00" for d in range(1, N_ROWS + 1)]).where(
        pd.Series(range(N_ROWS)) % 7 != 3), utc=True)
    return frame


def arrow_frame() -> pd.DataFrame:
    """Text as pandas 3's Arrow-backed ``str`` (NaN for NULL): how a Parquet part reads back."""
    frame = object_frame()
    for name in TEXT_COLUMNS:
        frame[name] = frame[name].astype("str")
    return frame


def geometry_frame() -> pd.DataFrame:
    square = shapely.Polygon([(115, 28), (116, 28), (116, 29), (115, 29)])
    bowtie = shapely.Polygon([(115, 28), (116, 29), (116, 28), (115, 29)])
    values = [
        shapes.to_wkb_hex(shapely.MultiPolygon([square])), shapes.to_wkb_hex(square), shapes.to_wkb_hex(bowtie),
        shapes.to_wkb_hex(shapely.Point(115.9, 28.6)), shapes.to_wkb_hex(shapely.Point(28.6, 115.9)),
        shapes.to_wkb_hex(shapely.Point(0, 0)), shapes.to_wkb_hex(shapely.Point(73.4, 3.8)),
        shapes.to_wkb_hex(shapely.Point(135.1, 53.6)), shapes.to_wkb_hex(shapely.Point(135.2, 53.6)),
        shapes.to_wkb_hex(shapely.Polygon()), shapes.to_wkb_hex(shapely.LineString([(115, 28), (116, 29)])),
        "\\xzz", "", None, "not hex", shapes.to_wkb_hex(shapely.Point(115.9, 28.6))[2:],
        shapes.to_wkb_hex(shapely.MultiPolygon([shapely.Polygon([(28, 115), (29, 115), (29, 116), (28, 116)])])),
        shapes.to_wkb_hex(shapely.MultiPoint([(115.9, 28.6)])),
        " " + shapes.to_wkb_hex(shapely.Point(115.9, 28.6)),
        shapes.to_wkb_hex(shapely.GeometryCollection([shapely.Point(115.9, 28.6)])),
    ]
    frame = pd.DataFrame({ROW: range(len(values)), "geom": pd.Series(values, dtype=object)})
    frame["geom_str"] = frame["geom"].astype("str")
    return frame


def empty_frame() -> pd.DataFrame:
    return arrow_frame().iloc[0:0].reset_index(drop=True)


FRAMES = {"object": object_frame, "arrow": arrow_frame, "geometry": geometry_frame, "empty": empty_frame}
PARAMETERS = {"as_of": AS_OF, "duplicate_keys": ["k1", "k2", "无"], "matched": [ID_M, ID_F, "", "x"],
              "statuses": ["有效", "注销"], "min_len": 2}


# --- the cases ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    frame: str
    type: str
    kwargs: dict = field(default_factory=dict)


def _cases() -> list[Case]:
    out: list[Case] = []

    def add(frames, type_, **kwargs):
        short = type_.removeprefix("expect_")
        for frame in frames:
            out.append(Case(f"{frame}-{short}-{len(out)}", frame, type_, kwargs))

    table = ("object", "arrow", "empty")
    # catalog-derived
    add(table, "expect_column_to_exist", column="text")
    add(table, "expect_column_to_exist", column="nope")
    add(table, "expect_column_to_exist", column="text", column_index=12)
    for col in ("text", "mixed", "float", "birth_date", "stamp", "flag"):
        add(table, "expect_column_values_to_not_be_null", column=col)
        add(table, "expect_column_values_to_be_null", column=col)
    add(table, "expect_column_values_to_not_be_null", column="text", mostly=0.8)
    add(table, "expect_column_values_to_be_null", column="text", mostly=0.1)
    for col in ("text", "mixed", "status", "division_name"):
        add(table, "expect_column_value_lengths_to_be_between", column=col, min_value=1)
        add(table, "expect_column_value_lengths_to_be_between", column=col, max_value=5)
        add(table, "expect_column_value_lengths_to_be_between", column=col, min_value=2, max_value=5, strict_min=True)
        add(table, "expect_column_value_lengths_to_be_between", column=col, min_value=1, max_value=3, strict_max=True)
        add(table, "expect_column_value_lengths_to_equal", column=col, value=3)
    add(table, "expect_column_value_lengths_to_be_between", column="text", min_value={"$PARAMETER": "min_len"})
    add(table, "expect_column_value_lengths_to_be_between", column="float", max_value=3)
    add(table, "expect_column_value_lengths_to_be_between", column="text", max_value=3, mostly=0.5)
    for col in ("text", "number_text", "mixed"):
        add(table, "expect_column_values_to_match_regex", column=col, regex=NUMERIC_TEXT)
        add(table, "expect_column_values_to_match_regex", column=col, regex="^[A-Z][0-9A-Z]{2,19}$")
        add(table, "expect_column_values_to_match_regex", column=col, regex=r"\d")
        add(table, "expect_column_values_to_not_match_regex", column=col, regex=r"^\s*$")
        add(table, "expect_column_values_to_not_match_regex", column=col, regex="[张三]")
    add(table, "expect_column_values_to_match_regex", column="number_text",
        regex=r"^[+-]?0*(?:[0-9]{1,9}(?:[.][0-9]*)?|[.][0-9]+)$", mostly=0.5)
    add(table, "expect_column_values_to_not_be_in_set", column="key", value_set={"$PARAMETER": "duplicate_keys"})
    add(table, "expect_column_values_to_not_be_in_set", column="mixed", value_set=[1, "abc", None])
    add(table, "expect_column_values_to_not_be_in_set", column="stamp", value_set=["2026-10-02 08:00:00+00:00"])
    add(table, "expect_column_values_to_be_in_set", column="holder", value_set={"$PARAMETER": "matched"},
        row_condition='kind=="111"', condition_parser="pandas")
    add(table, "expect_column_values_to_be_in_set", column="holder", value_set={"$PARAMETER": "matched"},
        row_condition='kind=="111"', condition_parser="pandas", mostly=0.6)
    add(table, "expect_column_values_to_be_in_set", column="flag", value_set=[True])
    add(table, "expect_column_values_to_be_in_set", column="flag", value_set=[False])
    add(table, "expect_column_values_to_be_in_set", column="status", value_set=["有效", "注销", "过期"])
    add(table, "expect_column_values_to_be_in_set", column="status", value_set={"$PARAMETER": "statuses"}, mostly=0.5)
    add(table, "expect_column_values_to_be_in_set", column="mixed", value_set=[1, "1", True])
    add(table, "expect_column_values_to_be_in_set", column="int", value_set=[1, 2, 3.0])
    add(table, "expect_column_values_to_be_in_set", column="float", value_set=[1, 5])
    add(table, "expect_column_values_to_be_in_set", column="status", value_set=[])
    # GX built-ins a catalog author may use next
    add(table, "expect_column_values_to_be_between", column="int", min_value=1, max_value=10)
    add(table, "expect_column_values_to_be_between", column="int", min_value=1, max_value=10, strict_min=True,
        strict_max=True)
    add(table, "expect_column_values_to_be_between", column="float", min_value=0, max_value=10, strict_max=True)
    add(table, "expect_column_values_to_be_between", column="float", min_value=0)
    add(table, "expect_column_values_to_be_between", column="float", max_value=5, mostly=0.5)
    add(table, "expect_column_values_to_be_between", column="stamp", min_value="2026-10-05", max_value="2026-10-20")
    add(table, "expect_column_values_to_be_between", column="text", min_value=0, max_value=10)
    add(table, "expect_column_values_to_be_between", column="birth_date", min_value=dt.date(1950, 1, 1).isoformat(),
        max_value=dt.date(2026, 1, 1).isoformat())
    for col in ("key", "text", "float", "int", "mixed", "birth_date"):
        add(table, "expect_column_values_to_be_unique", column=col)
    add(table, "expect_column_values_to_be_unique", column="key", mostly=0.8)
    add(table, "expect_compound_columns_to_be_unique", column_list=["key", "status"])
    add(table, "expect_compound_columns_to_be_unique", column_list=["key", "status"], ignore_row_if="never")
    add(table, "expect_compound_columns_to_be_unique", column_list=["key", "status"], ignore_row_if="any_value_is_missing")
    add(table, "expect_compound_columns_to_be_unique", column_list=["sex", "kind"])
    add(table, "expect_select_column_values_to_be_unique_within_record", column_list=["sex", "kind", "status"])
    add(table, "expect_select_column_values_to_be_unique_within_record", column_list=["start", "middle"])
    add(table, "expect_column_pair_values_a_to_be_greater_than_b", column_A="middle", column_B="start")
    add(table, "expect_column_pair_values_a_to_be_greater_than_b", column_A="middle", column_B="start", or_equal=True)
    add(table, "expect_column_pair_values_a_to_be_greater_than_b", column_A="middle", column_B="start", or_equal=True,
        ignore_row_if="either_value_is_missing")
    add(table, "expect_column_pair_values_a_to_be_greater_than_b", column_A="float", column_B="int", or_equal=True,
        ignore_row_if="neither", mostly=0.5)
    add(table, "expect_column_pair_values_a_to_be_greater_than_b", column_A="int", column_B="float",
        row_condition="int > 2", condition_parser="pandas")
    add(table, "expect_column_pair_values_to_be_equal", column_A="sex", column_B="kind")
    add(table, "expect_column_pair_values_to_be_equal", column_A="int", column_B="float", ignore_row_if="neither")
    add(table, "expect_table_row_count_to_be_between", min_value=1, max_value=30)
    add(table, "expect_table_row_count_to_be_between", min_value=N_ROWS, strict_min=True)
    add(table, "expect_table_row_count_to_be_between", max_value=10, row_condition='kind=="111"',
        condition_parser="pandas")
    add(table, "expect_table_row_count_to_equal", value=N_ROWS)
    add(table, "expect_table_columns_to_match_set", column_set=list(base_columns()) + ["stamp"])
    add(table, "expect_table_columns_to_match_set", column_set=["text", "key"], exact_match=False)
    add(table, "expect_table_columns_to_match_set", column_set=["text", "key"])
    add(table, "expect_table_columns_to_match_set", column_set=["text", "nope"], exact_match=False)
    add(table, "expect_table_columns_to_match_ordered_list", column_list=list(base_columns()) + ["stamp"])
    add(table, "expect_table_columns_to_match_ordered_list", column_list=["text"])
    add(table, "expect_table_column_count_to_equal", value=len(base_columns()) + 1)
    add(table, "expect_table_column_count_to_be_between", min_value=2, max_value=5)
    add(table, "expect_column_values_to_match_strftime_format", column="end_text", strftime_format="%Y-%m-%d")
    # the project's own
    for col in ("id_number", "holder", "text"):
        add(table, "expect_column_values_to_be_valid_citizen_id", column=col)
        add(table, "expect_column_values_to_be_valid_credit_code", column=col)
    add(table, "expect_column_values_to_be_valid_citizen_id", column="id_number", mostly=0.3)
    add(table, "expect_column_pair_values_citizen_id_to_match_birth_date", column_A="id_number", column_B="birth_date")
    add(table, "expect_column_pair_values_citizen_id_to_match_birth_date", column_A="id_number", column_B="end_text",
        ignore_row_if="both_values_are_missing")
    add(table, "expect_column_pair_values_citizen_id_to_match_sex", column_A="id_number", column_B="sex")
    add(table, "expect_column_pair_values_citizen_id_to_match_sex", column_A="id_number", column_B="sex",
        row_condition='kind=="111"', condition_parser="pandas")
    add(table, "expect_column_pair_values_citizen_id_to_match_sex", column_A="id_number", column_B="sex",
        row_condition="int > -100", condition_parser="pandas")  # keeps every row: GX then gives a result
    add(table, "expect_column_values_to_be_valid_credit_code", column="credit")
    add(table, "expect_column_values_credit_code_to_embed_valid_org_code", column="credit")
    add(table, "expect_column_values_credit_code_to_embed_known_division", column="credit")
    add(table, "expect_column_values_credit_code_to_embed_known_division", column="credit", include_abolished=False)
    add(table, "expect_column_values_credit_code_to_have_defined_authority_category", column="credit")
    add(table, "expect_column_values_credit_code_to_have_defined_authority_category", column="credit",
        allowed_pairs=["91", "92", "93"])
    add(table, "expect_column_values_credit_code_to_have_defined_authority_category", column="credit",
        allowed_pairs=[91, "N1"])  # GX's typed field makes 91 the text "91"
    add(table, "expect_column_values_credit_code_to_embed_known_division", column="credit", include_abolished="false",
        mostly=0.999)  # (mostly: not a duplicate of the case above once GX coerces "false")
    add(table, "expect_column_values_to_be_valid_organisation_code", column="org")
    add(table, "expect_column_pair_values_identifier_to_be_valid_for_type", column_A="kind", column_B="holder")
    add(table, "expect_column_pair_values_identifier_to_be_valid_for_type", column_A="kind", column_B="holder",
        citizen_id_types=["111", "414"], credit_code_types=["001", "990"], ignore_row_if="neither")
    add(table, "expect_column_pair_values_identifier_to_be_valid_for_type", column_A="kind", column_B="holder",
        row_condition='status=="有效"', condition_parser="pandas")
    add(table, "expect_column_pair_values_identifier_to_be_valid_for_type", column_A="kind", column_B="holder",
        citizen_id_types=[111], credit_code_types=["001"], mostly=0.999)
    add(table, "expect_column_values_to_be_valid_certificate_identifier", column="cert")
    add(table, "expect_column_values_to_be_valid_certificate_type_code", column="type_code")
    add(table, "expect_column_values_to_be_known_division_code", column="division")
    add(table, "expect_column_values_to_be_known_division_code", column="division", include_abolished=False)
    add(table, "expect_column_values_to_be_known_division_code", column="division", mostly=0.5,
        row_condition='status=="有效"', condition_parser="pandas")
    add(table, "expect_column_pair_values_division_name_to_match_code", column_A="division", column_B="division_name")
    add(table, "expect_column_pair_values_division_name_to_match_code", column_A="division", column_B="division_name",
        ignore_row_if="neither")
    for col in ("birth_date", "end_text", "stamp", "text"):
        add(table, "expect_column_values_to_not_be_in_the_future", column=col, as_of={"$PARAMETER": "as_of"})
    add(table, "expect_column_values_to_not_be_in_the_future", column="birth_date", as_of="2000-01-01", mostly=0.5)
    add(table, "expect_multicolumn_dates_to_be_in_order", column_list=["start", "middle", "end_text"],
        ignore_row_if="never")
    add(table, "expect_multicolumn_dates_to_be_in_order", column_list=["start", "middle"])
    add(table, "expect_multicolumn_dates_to_be_in_order", column_list=["start", "middle", "stamp"],
        ignore_row_if="any_value_is_missing")
    add(table, "expect_column_values_to_be_number_between", column="number_text", min_value=0, max_value=100000000)
    add(table, "expect_column_values_to_be_number_between", column="number_text", min_value=0)
    add(table, "expect_column_values_to_be_number_between", column="number_text", min_value="-1", max_value="1e8")
    add(table, "expect_column_values_to_be_number_between", column="float", max_value=5)
    add(table, "expect_column_values_to_be_number_between", column="mixed", min_value=0, max_value=2)
    geo = ("geometry",)
    for col in ("geom", "geom_str"):
        add(geo, "expect_column_values_to_be_valid_geometry", column=col)
        add(geo, "expect_column_values_to_be_geometry_type", column=col, geometry_types=["MultiPolygon"])
        add(geo, "expect_column_values_to_be_geometry_type", column=col, geometry_types=["Point", "Polygon"])
        add(geo, "expect_column_values_geometry_axes_not_swapped", column=col)
        add(geo, "expect_column_values_geometry_to_be_within_bbox", column=col)
        add(geo, "expect_column_values_geometry_to_be_within_bbox", column=col, min_lon=110, min_lat=20, max_lon=120,
            max_lat=30)
        add(geo, "expect_column_values_geometry_axes_not_swapped", column=col, min_lon=110, min_lat=20, max_lon=120,
            max_lat=30, mostly=0.5)
    # a column that is not there: GX reports an exception, the fast path raises ValueError
    add(("arrow",), "expect_column_values_to_be_valid_citizen_id", column="nope")
    add(("arrow",), "expect_column_pair_values_a_to_be_greater_than_b", column_A="nope", column_B="int")
    add(("arrow",), "expect_multicolumn_dates_to_be_in_order", column_list=["start", "nope"])
    # values an identifier check cannot read as text: both raise
    add(("object",), "expect_column_values_to_be_valid_citizen_id", column="mixed")
    return out


CASES = _cases()


# --- GX ------------------------------------------------------------------------------------------
class GX:
    """One ephemeral context, one pandas asset; each :meth:`run` validates one frame with a suite."""

    def __init__(self):
        import great_expectations as gx

        import baselib.validation.expectations  # noqa: F401  (registers the project's expectations)

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        asset = self.context.data_sources.add_pandas("differential").add_dataframe_asset("frame")
        self.batch = asset.add_batch_definition_whole_dataframe("whole")
        self.runs = itertools.count()

    def run(self, frame: pd.DataFrame, expectations: list[tuple[str, str, dict]], parameters: dict) -> dict:
        """{case id: ExpectationValidationResult} for (case id, type, kwargs) over ``frame``."""
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

        n = next(self.runs)
        suite = ExpectationSuite(name=f"suite_{n}")
        for case_id, type_, kwargs in expectations:
            suite.add_expectation(ExpectationConfiguration(type=type_, kwargs=kwargs, meta={"case": case_id})
                                  .to_domain_obj())
        suite = self.context.suites.add(suite)
        definition = self.context.validation_definitions.add(
            self.gx.ValidationDefinition(name=f"definition_{n}", data=self.batch, suite=suite))
        result = definition.run(
            batch_parameters={"dataframe": frame}, expectation_parameters=parameters,
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW],
                           "return_unexpected_index_query": False, "partial_unexpected_count": 0})
        return {r.expectation_config.meta["case"]: r for r in result.results}


@pytest.fixture(scope="module")
def gx_env() -> GX:
    return GX()


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {name: build() for name, build in FRAMES.items()}


@pytest.fixture(scope="module")
def gx_results(gx_env, frames) -> dict:
    results = {}
    for name, frame in frames.items():
        cases = [(c.id, c.type, c.kwargs) for c in CASES if c.frame == name]
        results.update(gx_env.run(frame, cases, PARAMETERS))
    assert set(results) == {c.id for c in CASES}  # GX kept every case (it drops an expectation equal to another)
    return results


def gx_outcome(result) -> dict:
    """What GX decided: raised, success, failing row ids, element count, observed value."""
    info = result.exception_info or {}
    raised = bool(info.get("raised_exception")) or any(
        isinstance(v, dict) and v.get("raised_exception") for v in info.values())
    if raised:
        messages = [info.get("exception_message")] + [v.get("exception_message") for v in info.values()
                                                      if isinstance(v, dict)]
        return {"raised": True, "message": " ".join(m for m in messages if m)}
    body = result.result or {}
    indexes = body.get("unexpected_index_list")
    return {"raised": False, "success": bool(result.success),
            "rows": None if indexes is None else sorted(int(entry[ROW]) for entry in indexes),
            "element_count": body.get("element_count"), "observed": body.get("observed_value")}


def fast_outcome(case_type: str, kwargs: dict, frame: pd.DataFrame, parameters: dict) -> dict:
    try:
        found = vectorised.evaluate(case_type, kwargs, frame, parameters)
    except vectorised.UnsupportedExpectation:
        raise
    except Exception as exc:  # noqa: BLE001  (compared with GX's exception)
        return {"raised": True, "message": str(exc), "type": type(exc)}
    rows = None if found.unexpected is None else sorted(int(r) for r in frame[ROW].to_numpy()[found.unexpected])
    return {"raised": False, "success": found.success, "rows": rows, "element_count": found.element_count,
            "observed": found.observed}


def assert_same(gx: dict, fast: dict, table_level: bool) -> None:
    assert fast["raised"] == gx["raised"], (gx, fast)
    if gx["raised"]:
        return
    assert fast["success"] == gx["success"], (gx, fast)
    assert fast["rows"] == gx["rows"], (gx, fast)
    if table_level:
        if gx["observed"] is not None:
            assert fast["observed"] == gx["observed"], (gx, fast)
    else:
        assert fast["element_count"] == gx["element_count"], (gx, fast)


# --- the tests ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fast_path_fails_the_same_rows_as_gx(case, gx_results, frames):
    gx = gx_outcome(gx_results[case.id])
    fast = fast_outcome(case.type, case.kwargs, frames[case.frame], PARAMETERS)
    table_level = vectorised.registry.CHECKS[case.type].kind == "table"
    assert_same(gx, fast, table_level)


def test_cases_are_not_vacuous(gx_results):
    """The crafted frames make every row-level type fail some row and pass some other, somewhere."""
    failing, passing = set(), set()
    for case in CASES:
        outcome = gx_outcome(gx_results[case.id])
        if outcome["raised"] or outcome["rows"] is None:
            continue
        if outcome["rows"]:
            failing.add(case.type)
        if len(outcome["rows"]) < outcome["element_count"]:
            passing.add(case.type)
    row_level = {t for t, c in vectorised.registry.CHECKS.items() if c.kind != "table"}
    assert row_level - failing == set()
    assert row_level - passing == set()


def test_missing_column_is_reported_like_gx(gx_results, frames):
    case = next(c for c in CASES if c.kwargs.get("column") == "nope" and c.frame == "arrow"
                and c.type != "expect_column_to_exist")
    gx = gx_outcome(gx_results[case.id])
    with pytest.raises(ValueError, match='The column "nope" in BatchData does not exist'):
        vectorised.evaluate(case.type, case.kwargs, frames["arrow"], PARAMETERS)
    assert gx["raised"] and 'The column "nope" in BatchData does not exist' in gx["message"]


def test_every_supported_type_has_a_case():
    assert vectorised.SUPPORTED - {c.type for c in CASES} == set()


def test_types_the_suites_and_the_catalog_use_are_supported():
    from baselib.catalog import load_catalog
    from baselib.validation.suites import catalog_expectations

    used = set()
    for path in sorted((REPO / "expectations").glob("*.json")):
        used |= {e["type"] for e in json.loads(path.read_text(encoding="utf-8"))["expectations"]}
    for resource in load_catalog():
        used |= {e["type"] for e in catalog_expectations(resource)}
    assert "expect_column_values_to_be_valid_citizen_id" in used  # the scan found the suites
    assert used - vectorised.SUPPORTED == set()


def test_unsupported_type_is_refused():
    with pytest.raises(vectorised.UnsupportedExpectation):
        vectorised.evaluate("expect_column_kl_divergence_to_be_less_than", {"column": "x"}, pd.DataFrame({"x": [1]}), {})


def test_unknown_parameter_is_a_value_error(frames):
    with pytest.raises(ValueError, match="no_such"):
        vectorised.evaluate("expect_column_values_to_be_in_set",
                            {"column": "status", "value_set": {"$PARAMETER": "no_such"}}, frames["arrow"], {})


def test_the_fast_path_never_imports_great_expectations():
    code = ("import sys, baselib.validation.vectorised as v; import pandas as pd; "
            "v.evaluate('expect_column_values_to_be_valid_citizen_id', {'column': 'x'}, pd.DataFrame({'x': ['1']}), {}); "
            "print(sorted(m for m in sys.modules if m.startswith('great_expectations')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / "plugins"), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]"


# --- property test: string-heavy types on generated text -------------------------------------------
PROPERTY_TYPES = [
    ("expect_column_values_to_be_valid_citizen_id", {}),
    ("expect_column_values_to_be_valid_credit_code", {}),
    ("expect_column_values_credit_code_to_embed_valid_org_code", {}),
    ("expect_column_values_to_be_valid_certificate_type_code", {}),
    ("expect_column_values_to_be_known_division_code", {}),
    ("expect_column_values_to_match_regex", {"regex": NUMERIC_TEXT}),
    ("expect_column_value_lengths_to_be_between", {"min_value": 1, "max_value": 18}),
    ("expect_column_values_to_not_match_regex", {"regex": r"^\s|\s$"}),
]
SYMBOLS = "0123456789X" + "ABDIOSxz" + " \t\n.-+e" + "０１Ｘ张\u3000\u200b"
SEEDS = [ID_M, ID_X, CC, CC_N, "360426", CC + "001", "12.5"]


def _mutated(seed: str, edits: list[tuple[int, str]]) -> str:
    chars = list(seed)
    for position, symbol in edits:
        chars[position % max(len(chars), 1):position % max(len(chars), 1) + 1] = [symbol] if symbol != "-" else []
    return "".join(chars)


values_strategy = st.one_of(
    st.none(),
    st.text(alphabet=SYMBOLS, max_size=22),
    st.builds(_mutated, st.sampled_from(SEEDS),
              st.lists(st.tuples(st.integers(0, 21), st.sampled_from(list(SYMBOLS) + ["-"])), max_size=2)),
)


@settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(values_strategy, min_size=1, max_size=12), arrow=st.booleans())
def test_property_string_checks_agree_with_gx(gx_env, values, arrow):
    frame = pd.DataFrame({ROW: np.arange(len(values)), "v": pd.Series(values, dtype=object)})
    if arrow:
        frame["v"] = frame["v"].astype("str")
    cases = [(f"p{n}", type_, {"column": "v"} | kwargs) for n, (type_, kwargs) in enumerate(PROPERTY_TYPES)]
    results = gx_env.run(frame, cases, {})
    for case_id, type_, kwargs in cases:
        assert_same(gx_outcome(results[case_id]), fast_outcome(type_, kwargs, frame, {}), table_level=False)
