"""Typing raw source values per catalog type (baselib.sources.values): a value that cannot be of
its item's type is a problem of its row (evidence), never an exception that fails the extract."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pyarrow as pa
import pytest

from baselib.catalog.model import DataType, Item
from baselib.sources.values import JsonNumber, converter, parse_json, typed_value

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc


def _typed(item_type: DataType, value, zone=SHANGHAI, name: str = "v", label: str = "值"):
    item = Item(name=name, label=label, type=item_type)
    return typed_value(item, converter(item_type, zone), value)


# -- defect 2: a D value given as a date-time is its date in the provider's zone --------------------
@pytest.mark.parametrize("value, zone, date", [
    ("2025-02-28T16:00:00.000Z", SHANGHAI, dt.date(2025, 3, 1)),   # local midnight +08 serialised in UTC
    ("2025-02-28T15:59:59.999Z", SHANGHAI, dt.date(2025, 2, 28)),
    ("2025-02-28T16:00:00.000Z", UTC, dt.date(2025, 2, 28)),
    ("2025-03-01T00:00:00", SHANGHAI, dt.date(2025, 3, 1)),        # no offset: the provider's wall time
    ("2025-03-01 23:30:00+00:00", SHANGHAI, dt.date(2025, 3, 2)),
    ("2025-03-01T00:30:00+09:00", SHANGHAI, dt.date(2025, 2, 28)),
    ("2025-03-01", SHANGHAI, dt.date(2025, 3, 1)),
])
def test_a_date_time_for_a_date_item_is_its_date_where_the_provider_is(value, zone, date):
    assert _typed(DataType.D, value, zone) == (date, None)


@pytest.mark.parametrize("value", ["2025-03-01Tjunk", "2025-03-01T25:00:00", "2025-03-01 x", "2025-03-01T",
                                   "2025-02-30T00:00:00Z", "2025-03-01T10:00:00+08:00junk"])
def test_a_date_with_a_tail_that_is_no_time_is_rejected(value):
    typed, problem = _typed(DataType.D, value, name="issue_date", label="颁发日期")
    assert typed is None and problem.startswith(f"颁发日期(issue_date) {value!r} 不是D型 / is not a D value (")


# -- defect 3: overflow, int64 range and lone surrogates are row problems -----------------------------
@pytest.mark.parametrize("item_type, value", [
    (DataType.T, "0001-01-01T00:00:00"),          # .NET's zero date, read in +08: before year 1 in UTC
    (DataType.D, "0001-01-01T00:00:00+09:00"),    # instants outside datetime's range in the provider's zone
    (DataType.D, "9999-12-31T23:00:00Z"),
    (DataType.I, 2 ** 63), (DataType.I, -(2 ** 63) - 1), (DataType.I, 10 ** 30), (DataType.I, "9223372036854775808"),
    (DataType.I, JsonNumber("1e400")), (DataType.I, JsonNumber("1.5")),
    (DataType.B, JsonNumber("1e400")), (DataType.F, 10 ** 400),
])
def test_values_out_of_range_are_problems_not_exceptions(item_type, value):
    typed, problem = _typed(item_type, value)
    assert typed is None and f"不是{item_type.value}型 / is not a {item_type.value} value" in problem


@pytest.mark.parametrize("value, typed", [(2 ** 63 - 1, 2 ** 63 - 1), (-(2 ** 63), -(2 ** 63)),
                                          (JsonNumber("1E+3"), 1000), (JsonNumber("2.0"), 2)])
def test_integers_at_the_int64_bounds_load(value, typed):
    assert _typed(DataType.I, value) == (typed, None)
    assert pa.array([typed], pa.int64()).to_pylist() == [typed]


@pytest.mark.parametrize("value, kept, units", [
    ("营业执照\ud83d", "营业执照\ufffd", "U+D83D"),
    ("\udc00a\ud800", "\ufffda\ufffd", "U+D800, U+DC00"),
    ({"k": "x\udfff"}, '{"k": "x\ufffd"}', "U+DFFF"),
])
def test_text_with_a_lone_surrogate_is_kept_shown_and_named(value, kept, units):
    typed, problem = _typed(DataType.C, value, name="cert_name", label="证照名称")
    assert typed == kept
    assert problem == (f"证照名称(cert_name) 含无效 Unicode 字符（孤立代理项 {units}，显示为 U+FFFD）/ contains invalid "
                       f"Unicode (lone surrogate {units}, shown as U+FFFD), which PostgreSQL cannot store")
    pa.array([typed], pa.string())  # storable


def test_valid_surrogate_pairs_from_json_are_plain_text():
    assert _typed(DataType.C, parse_json('"\\ud83d\\ude00"')) == ("😀", None)


# -- defect 7: JSON numbers in text items keep the provider's token ----------------------------------
@pytest.mark.parametrize("token", ["0.1234567890123456789", "100.10", "1e21", "1E+21", "-0.0", "12345678901234567890123",
                                   "3.14159265358979323846264338327950288", "1.0", "5e-7"])
@pytest.mark.parametrize("item_type", [DataType.C, DataType.N])
def test_a_json_number_in_a_text_item_keeps_its_token(token, item_type):
    assert _typed(item_type, parse_json(f'{{"x": {token}}}')["x"]) == (token, None)


def test_json_numbers_still_type_as_numbers():
    body = parse_json('{"i": 7, "f": 100.10, "e": 1e21, "big": 12345678901234567890}')
    assert _typed(DataType.F, body["f"]) == (100.1, None)
    assert _typed(DataType.B, body["e"]) == (1e21, None)
    assert _typed(DataType.I, body["i"]) == (7, None)
    assert _typed(DataType.I, body["big"])[0] is None        # over int64: a problem, not an OverflowError
    assert _typed(DataType.N, body["big"]) == ("12345678901234567890", None)
    typed, problem = _typed(DataType.I, parse_json("1.5"), name="n", label="数量")
    assert typed is None and problem.startswith("数量(n) 1.5 不是I型")   # the token, not JsonNumber('1.5')
