"""The custom GX expectations, run through real Great Expectations via SuiteRunner.

GX is slow to import and to build a context, so one runner (one ephemeral context) is shared
by the whole module and each frame is validated once.
"""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pyarrow as pa
import pytest

from baselib.catalog import load_catalog
from baselib.identifiers import citizen_id

AS_OF = "2026-11-01T00:00:00+00:00"
UPDATED = dt.datetime(2026, 10, 31, 8, 0, tzinfo=dt.timezone.utc)
COLUMNS = ["id_number", "name", "sex", "ethnicity", "birth_date", "division_code", "address",
           "registration_status", "updated_at"]


def make_id(division: str, born: dt.date, seq: int) -> str:
    body = f"{division}{born:%Y%m%d}{seq:03d}"
    return body + citizen_id.check_character(body)


def wrong_check(number: str) -> str:
    return number[:17] + next(c for c in "0123456789X" if c != number[17])


DUP_ID = make_id("430102", dt.date(1975, 3, 9), 15)

# label -> (row overrides, expected reason fragment or None for a row that must load)
CASES: dict[str, tuple[dict, str | None]] = {
    "clean_male": ({}, None),
    "clean_female": ({"id_number": make_id("110105", dt.date(1949, 12, 31), 2), "sex": "2",
                      "birth_date": dt.date(1949, 12, 31), "division_code": "110105"}, None),
    "clean_abolished_division": ({"id_number": make_id("110103", dt.date(1960, 5, 4), 31),
                                  "birth_date": dt.date(1960, 5, 4), "division_code": "110103"}, None),
    "clean_published_example": ({"id_number": "360426199101010071", "birth_date": dt.date(1991, 1, 1)}, None),
    "warn_ethnicity": ({"id_number": make_id("360426", dt.date(1980, 2, 2), 11), "birth_date": dt.date(1980, 2, 2),
                        "ethnicity": "99"}, None),
    "warn_address": ({"id_number": make_id("360426", dt.date(1980, 2, 3), 13), "birth_date": dt.date(1980, 2, 3),
                      "address": None}, None),
    "bad_check_char": ({"id_number": wrong_check(make_id("360426", dt.date(1985, 7, 1), 21)),
                        "birth_date": dt.date(1985, 7, 1)}, "公民身份号码校验码错误"),
    "birth_mismatch": ({"id_number": make_id("360426", dt.date(1985, 7, 2), 23),
                        "birth_date": dt.date(1985, 7, 3)}, "出生日期与公民身份号码不一致"),
    "sex_mismatch": ({"id_number": make_id("360426", dt.date(1985, 7, 4), 25), "birth_date": dt.date(1985, 7, 4),
                      "sex": "2"}, "性别与公民身份号码顺序码不一致"),
    "unknown_division": ({"id_number": make_id("360426", dt.date(1985, 7, 5), 27), "birth_date": dt.date(1985, 7, 5),
                          "division_code": "990101"}, "户籍地行政区划代码不存在"),
    "name_missing": ({"id_number": make_id("360426", dt.date(1985, 7, 6), 29), "birth_date": dt.date(1985, 7, 6),
                      "name": None}, "姓名(name) 为空"),
    "name_empty": ({"id_number": make_id("360426", dt.date(1985, 7, 7), 31), "birth_date": dt.date(1985, 7, 7),
                    "name": ""}, "姓名为空"),
    "name_too_long": ({"id_number": make_id("360426", dt.date(1985, 7, 8), 33), "birth_date": dt.date(1985, 7, 8),
                       "name": "张" * 51}, "超过 50 个字符"),
    "future_birth": ({"id_number": make_id("360426", dt.date(2027, 3, 1), 35), "birth_date": dt.date(2027, 3, 1)},
                     "出生日期晚于数据截止日"),
    "bad_status": ({"id_number": make_id("360426", dt.date(1985, 7, 9), 37), "birth_date": dt.date(1985, 7, 9),
                    "registration_status": "未知"}, "户籍状态不在值域"),
    # a row failing both critical and warning checks is rejected and not counted as warned
    "bad_status_and_warnings": ({"id_number": make_id("360426", dt.date(1985, 7, 10), 39),
                                 "birth_date": dt.date(1985, 7, 10), "registration_status": "注销",
                                 "ethnicity": "99", "address": None}, "户籍状态不在值域"),
    "dup_first": ({"id_number": DUP_ID, "birth_date": dt.date(1975, 3, 9), "division_code": "430102"},
                  "主键(id_number)在本次抽取中重复"),
    "dup_second": ({"id_number": DUP_ID, "birth_date": dt.date(1975, 3, 9), "division_code": "430102",
                    "name": "李四"}, "主键(id_number)在本次抽取中重复"),
}
LABELS = list(CASES)
CLEAN = [label for label, (_, reason) in CASES.items() if reason is None]
DEFECTIVE = [label for label, (_, reason) in CASES.items() if reason is not None]
WARNED = ["warn_ethnicity", "warn_address"]


def base_row() -> dict:
    return {
        "id_number": make_id("360426", dt.date(1991, 1, 1), 7),
        "name": "张三",
        "sex": "1",
        "ethnicity": "01",
        "birth_date": dt.date(1991, 1, 1),
        "division_code": "360426",
        "address": "江西省九江市德安县蒲亭镇1号",
        "registration_status": "正常",
        "updated_at": UPDATED,
    }


def build_frame() -> pd.DataFrame:
    rows = [{**base_row(), **CASES[label][0]} for label in LABELS]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["_source_row"] = pd.Series(range(len(frame)), dtype="int64")
    return frame


def row_of(label: str) -> int:
    return LABELS.index(label)


@pytest.fixture(scope="module")
def resource():
    return next(r for r in load_catalog() if r.dag_id == "base_population__person")


@pytest.fixture(scope="module")
def docs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data_docs")


@pytest.fixture(scope="module")
def runner(resource, docs_dir):
    from baselib.validation.runner import SuiteRunner, key_strings

    # the duplicate-key parameter holds opaque key hashes, as baselib.pipeline.duplicate_keys computes them
    duplicates = key_strings(pd.DataFrame({"id_number": [DUP_ID]}), ["id_number"]).tolist()
    return SuiteRunner(resource, docs_dir, {"as_of": AS_OF, "duplicate_keys": duplicates})


@pytest.fixture(scope="module")
def frame():
    return build_frame()


@pytest.fixture(scope="module")
def outcome(runner, frame):
    return runner.validate(frame, run_name="unit")


def test_frame_sanity(frame):
    # the "clean" IDs really are valid and the defects are what they claim to be
    for label in CLEAN:
        number = frame.loc[row_of(label), "id_number"]
        assert citizen_id.is_valid(number), label
        assert citizen_id.birth_date(number) == frame.loc[row_of(label), "birth_date"], label
    assert not citizen_id.is_valid(frame.loc[row_of("bad_check_char"), "id_number"])
    assert citizen_id.is_valid(frame.loc[row_of("future_birth"), "id_number"])
    assert frame["_source_row"].dtype == "int64"


def test_valid_rows_are_exactly_the_clean_ones(outcome):
    assert sorted(outcome.valid["_source_row"].tolist()) == sorted(row_of(label) for label in CLEAN)
    assert "_key" not in outcome.valid.columns
    assert list(outcome.valid.columns) == COLUMNS + ["_source_row"]


def test_no_blocking_failures_on_a_complete_frame(outcome):
    assert outcome.blocking == []


def test_every_defective_row_is_rejected(outcome):
    assert sorted(outcome.rejected["_source_row"].tolist()) == sorted(row_of(label) for label in DEFECTIVE)
    assert list(outcome.rejected.columns) == ["_source_row", "record_key", "source_row", "failed_expectations", "reason",
                                              "delivery_id", "source_ref"]
    assert outcome.rejected["delivery_id"].isna().all()  # a table source has no file deliveries


@pytest.mark.parametrize("label", DEFECTIVE)
def test_rejection_reason(outcome, label, frame):
    rejected = outcome.rejected.set_index("_source_row")
    row = rejected.loc[row_of(label)]
    assert CASES[label][1] in row["reason"], row["reason"]
    assert row["record_key"] == frame.loc[row_of(label), "id_number"]
    failed = json.loads(row["failed_expectations"])
    assert failed and all(f["severity"] == "critical" for f in failed)
    source = json.loads(row["source_row"])
    assert source["id_number"] == frame.loc[row_of(label), "id_number"]
    assert "_source_row" not in source and "_key" not in source


@pytest.mark.parametrize(
    "label, expectation",
    [
        ("bad_check_char", "expect_column_values_to_be_valid_citizen_id"),
        ("birth_mismatch", "expect_column_pair_values_citizen_id_to_match_birth_date"),
        ("sex_mismatch", "expect_column_pair_values_citizen_id_to_match_sex"),
        ("unknown_division", "expect_column_values_to_be_known_division_code"),
        ("future_birth", "expect_column_values_to_not_be_in_the_future"),
    ],
)
def test_custom_expectation_flags_only_its_defect(outcome, label, expectation):
    rejected = outcome.rejected.set_index("_source_row")
    failed = json.loads(rejected.loc[row_of(label), "failed_expectations"])
    assert [f["expectation"] for f in failed] == [expectation]
    # and no other row failed that expectation
    others = [
        int(rid) for rid, text in rejected["failed_expectations"].items()
        if any(f["expectation"] == expectation for f in json.loads(text))
    ]
    assert others == [row_of(label)]


def test_missing_name_source_row_has_null(outcome):
    rejected = outcome.rejected.set_index("_source_row")
    assert json.loads(rejected.loc[row_of("name_missing"), "source_row"])["name"] is None


def test_warnings_do_not_reject_but_are_counted(outcome):
    valid_ids = set(outcome.valid["_source_row"])
    assert {row_of(label) for label in WARNED} <= valid_ids
    assert outcome.warned_rows == len(WARNED)
    # the warning lines count every failing row, including the rejected one
    assert any("ethnicity" in w and "2 rows" in w and "GB 3304" in w for w in outcome.warnings), outcome.warnings
    assert any("address" in w and "2 rows" in w and "户籍地址缺失" in w for w in outcome.warnings), outcome.warnings


def test_data_docs_written(runner, outcome, docs_dir):
    index = runner.build_report()
    assert index == docs_dir / "index.html"
    assert index.is_file()
    assert index.stat().st_size > 0
    assert list(docs_dir.rglob("*.html")) != [index]  # a validation page besides the index


def test_missing_column_blocks(runner):
    frame = build_frame().drop(columns=["sex"])
    result = runner.validate(frame, run_name="unit-missing-column")
    assert result.blocking, "a missing column must block the load"
    names = [name for name, _message in result.blocking]
    assert "expect_column_to_exist(sex)" in names
    assert all("sex" in name for name in names), names
    message = dict(result.blocking)["expect_column_to_exist(sex)"]
    assert "性别代码(sex) 列缺失" in message


def test_arrow_round_trip_frame_gives_same_split(runner, outcome):
    # the pipeline reads parts back from Parquet: arrow-backed dtypes must validate the same way
    frame = pa.Table.from_pandas(build_frame(), preserve_index=False).to_pandas()
    again = runner.validate(frame, run_name="unit-arrow")
    assert again.blocking == []
    assert sorted(again.valid["_source_row"]) == sorted(outcome.valid["_source_row"])
    assert sorted(again.rejected["_source_row"]) == sorted(outcome.rejected["_source_row"])
    assert again.warned_rows == outcome.warned_rows


def test_without_duplicate_keys_the_pair_loads(resource, tmp_path):
    # a second runner is cheap once GX is imported; an empty list must not block or reject
    from baselib.validation.runner import SuiteRunner

    fresh = SuiteRunner(resource, tmp_path, {"as_of": AS_OF, "duplicate_keys": []})
    result = fresh.validate(build_frame(), run_name="unit-no-dups")
    assert result.blocking == []
    valid = set(result.valid["_source_row"])
    assert {row_of("dup_first"), row_of("dup_second")} <= valid
    assert sorted(result.rejected["_source_row"]) == sorted(
        row_of(label) for label in DEFECTIVE if not label.startswith("dup_")
    )
    assert fresh.build_report() == tmp_path / "index.html" and (tmp_path / "index.html").is_file()


def test_edge_rows(runner):
    base = base_row()
    rows = {
        "born_on_as_of_day": {"id_number": make_id("360426", dt.date(2026, 11, 1), 1), "birth_date": dt.date(2026, 11, 1)},
        "born_day_after": {"id_number": make_id("360426", dt.date(2026, 11, 2), 3), "birth_date": dt.date(2026, 11, 2)},
        "malformed_id": {"id_number": "12345", "birth_date": dt.date(1991, 1, 1)},
        "birth_date_missing": {"id_number": make_id("360426", dt.date(1991, 1, 2), 5), "birth_date": None},
        "id_missing": {"id_number": None},
        "female_code_for_even_seq": {"id_number": make_id("360426", dt.date(1991, 1, 3), 8), "sex": "2",
                                     "birth_date": dt.date(1991, 1, 3)},
    }
    labels = list(rows)
    frame = pd.DataFrame([{**base, **rows[label]} for label in labels], columns=COLUMNS)
    frame["_source_row"] = pd.Series(range(len(frame)), dtype="int64")
    result = runner.validate(frame, run_name="unit-edges")
    assert result.blocking == []
    assert sorted(result.valid["_source_row"]) == [labels.index("born_on_as_of_day"),
                                                    labels.index("female_code_for_even_seq")]
    reasons = dict(zip(result.rejected["_source_row"], result.rejected["reason"]))
    assert "出生日期晚于数据截止日" in reasons[labels.index("born_day_after")]
    malformed = reasons[labels.index("malformed_id")]
    assert "公民身份号码校验码错误" in malformed
    # a missing value is reported once, by the not-null check; the pair checks ignore the row
    assert reasons[labels.index("birth_date_missing")] == "出生日期(birth_date) 为空 / value is missing"
    assert reasons[labels.index("id_missing")] == "公民身份号码(id_number) 为空 / value is missing"
