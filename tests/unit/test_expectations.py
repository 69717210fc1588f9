"""The custom GX expectations, run through real Great Expectations via gx_fallback.SuiteRunner.

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
from baselib.identifiers import certificate_id, citizen_id
from baselib.sources.extract import CONVERSION_ERROR

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
                        "birth_date": dt.date(1985, 7, 1)}, "公民身份号码(id_number) 校验码错误：应为 "),
    "birth_mismatch": ({"id_number": make_id("360426", dt.date(1985, 7, 2), 23),
                        "birth_date": dt.date(1985, 7, 3)}, "出生日期与公民身份号码不一致"),
    "sex_mismatch": ({"id_number": make_id("360426", dt.date(1985, 7, 4), 25), "birth_date": dt.date(1985, 7, 4),
                      "sex": "2"}, "性别与公民身份号码顺序码不一致"),
    "unknown_division": ({"id_number": make_id("360426", dt.date(1985, 7, 5), 27), "birth_date": dt.date(1985, 7, 5),
                          "division_code": "990101"}, "户籍地行政区划代码不存在"),
    "name_missing": ({"id_number": make_id("360426", dt.date(1985, 7, 6), 29), "birth_date": dt.date(1985, 7, 6),
                      "name": None}, "姓名(name) 为空"),
    "name_empty": ({"id_number": make_id("360426", dt.date(1985, 7, 7), 31), "birth_date": dt.date(1985, 7, 7),
                    "name": ""}, "姓名(name) 为空 / value is missing"),
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


def as_extract(rows: list[dict]) -> pd.DataFrame:
    """Rows as an extract part: the items, no conversion error, and the row id."""
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame[CONVERSION_ERROR] = pd.Series([None] * len(frame), dtype="string")
    frame["_source_row"] = pd.Series(range(len(frame)), dtype="int64")
    return frame


def build_frame() -> pd.DataFrame:
    return as_extract([{**base_row(), **CASES[label][0]} for label in LABELS])


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
    from baselib.validation.executor import key_strings
    from baselib.validation.gx_fallback import SuiteRunner

    # the duplicate-key parameter holds opaque key hashes, as baselib.validation.executor.duplicate_keys computes them
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
    assert list(outcome.valid.columns) == COLUMNS + [CONVERSION_ERROR, "_source_row"]


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
    from baselib.validation.gx_fallback import SuiteRunner

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
    frame = as_extract([{**base, **rows[label]} for label in labels])
    result = runner.validate(frame, run_name="unit-edges")
    assert result.blocking == []
    assert sorted(result.valid["_source_row"]) == [labels.index("born_on_as_of_day"),
                                                    labels.index("female_code_for_even_seq")]
    reasons = dict(zip(result.rejected["_source_row"], result.rejected["reason"]))
    assert "出生日期晚于数据截止日" in reasons[labels.index("born_day_after")]
    assert reasons[labels.index("malformed_id")] == "公民身份号码(id_number) 长度为 5 位，应为 18 位 / 5 characters long, expected 18"
    # a missing value is reported once, by the not-null check; the pair checks ignore the row
    assert reasons[labels.index("birth_date_missing")] == "出生日期(birth_date) 为空 / value is missing"
    assert reasons[labels.index("id_missing")] == "公民身份号码(id_number) 为空 / value is missing"


# --- one cause, one reason (issue 8): the real-world IDs as a source may send them ----------------
# Before normalisation (the sources trim and NFKC identifiers; these checks must still be right
# for whatever reaches them). label -> (row overrides, the exact reason, the failed expectations)
ID_CAUSES = {
    "fifteen_digit": ({"id_number": "360102850315125", "birth_date": dt.date(1985, 3, 15), "sex": "1"},
                      "公民身份号码(id_number) 为15位旧版号码（GB 11643-1989），按 GB 11643-1999 换算应为 360102198503151254 / "
                      "15-digit old-format number (GB 11643-1989); its 18-digit form would be 360102198503151254",
                      ["expect_column_values_to_be_valid_citizen_id"]),
    "lowercase_x": ({"id_number": "36010219900101107x", "birth_date": dt.date(1990, 1, 1)},
                    "公民身份号码(id_number) 第 18 位为小写字母「x」，应为数字（第 18 位可为大写 X） / character 18 is 'x' "
                    "(U+0078 LATIN SMALL LETTER X), not a digit (or an upper-case X as the 18th)",
                    ["expect_column_values_to_be_valid_citizen_id"]),
    "fullwidth": ({"id_number": "３６０１０２１９８５０３１５１２０３", "birth_date": dt.date(1985, 3, 15), "sex": "2"},
                  "公民身份号码(id_number) 第 1 位为全角或兼容字符「３」(U+FF13)，应为数字（第 18 位可为大写 X）；共 18 处这样的字符 / "
                  "character 1 is '３' (U+FF13 FULLWIDTH DIGIT THREE), not a digit (or an upper-case X as the 18th); "
                  "18 characters are not allowed",
                  ["expect_column_values_to_be_valid_citizen_id"]),
    # 19 characters: the catalog's length check fails too, with the same one reason
    "trailing_space": ({"id_number": "360102198503151238 ", "birth_date": dt.date(1985, 3, 15)},
                       "公民身份号码(id_number) 第 19 位为空白字符(U+0020)，应为数字（第 18 位可为大写 X） / character 19 is "
                       "' ' (U+0020 SPACE), not a digit (or an upper-case X as the 18th)",
                       ["expect_column_value_lengths_to_be_between", "expect_column_values_to_be_valid_citizen_id"]),
    "internal_space": ({"id_number": "360102 98503151238", "birth_date": dt.date(1985, 3, 15)},
                       "公民身份号码(id_number) 第 7 位为空白字符(U+0020)，应为数字（第 18 位可为大写 X） / character 7 is "
                       "' ' (U+0020 SPACE), not a digit (or an upper-case X as the 18th)",
                       ["expect_column_values_to_be_valid_citizen_id"]),
    "seventeen": ({"id_number": "36010219850315123", "birth_date": dt.date(1985, 3, 15)},
                  "公民身份号码(id_number) 长度为 17 位，应为 18 位 / 17 characters long, expected 18",
                  ["expect_column_values_to_be_valid_citizen_id"]),
    "nineteen_digits": ({"id_number": "3601021985031512381", "birth_date": dt.date(1985, 3, 15)},
                        "公民身份号码(id_number) 长度为 19 位，应为 18 位 / 19 characters long, expected 18",
                        ["expect_column_value_lengths_to_be_between", "expect_column_values_to_be_valid_citizen_id"]),
    "letter_in_body": ({"id_number": "3601021985O3151238", "birth_date": dt.date(1985, 3, 15)},
                       "公民身份号码(id_number) 第 11 位为「O」(U+004F)，应为数字（第 18 位可为大写 X） / character 11 is 'O' "
                       "(U+004F LATIN CAPITAL LETTER O), not a digit (or an upper-case X as the 18th)",
                       ["expect_column_values_to_be_valid_citizen_id"]),
    "bad_month": ({"id_number": "36010219851315125" + citizen_id.check_character("36010219851315125"), "birth_date": dt.date(1985, 3, 15)},
                  "公民身份号码(id_number) 出生日期码 19851315 不是有效日期 / birth-date part 19851315 is not a calendar date",
                  ["expect_column_values_to_be_valid_citizen_id"]),
    "check_char": ({"id_number": "360102198503151212", "birth_date": dt.date(1985, 3, 15)},
                   "公民身份号码(id_number) 校验码错误：应为 1，实为 2 / check character is wrong: should be 1, found 2",
                   ["expect_column_values_to_be_valid_citizen_id"]),
    "name_blank": ({"id_number": "360102198503151211", "birth_date": dt.date(1985, 3, 15), "name": ""},
                   "姓名(name) 为空 / value is missing", ["expect_column_value_lengths_to_be_between"]),
    "name_null": ({"id_number": "360102198503151254", "birth_date": dt.date(1985, 3, 15), "name": None},
                  "姓名(name) 为空 / value is missing", ["expect_column_values_to_not_be_null"]),
    "division_not_digits": ({"id_number": "360102198503151238", "birth_date": dt.date(1985, 3, 15),
                             "division_code": "36010A"},
                            "户籍地行政区划代码(division_code) 第 6 位为「A」(U+0041)，应为数字 / character 6 is 'A' "
                            "(U+0041 LATIN CAPITAL LETTER A), not a digit",
                            ["expect_column_values_to_be_known_division_code"]),
    "division_short": ({"id_number": "360102198503151238", "birth_date": dt.date(1985, 3, 15),
                        "division_code": "3601"},
                       "户籍地行政区划代码(division_code) 长度为 4 位，应为 6 位 / 4 characters long, expected 6",
                       ["expect_column_values_to_be_known_division_code"]),
    "division_unknown": ({"id_number": "360102198503151238", "birth_date": dt.date(1985, 3, 15),
                          "division_code": "990101"},
                         "户籍地行政区划代码不存在 / unknown household-registration division code",
                         ["expect_column_values_to_be_known_division_code"]),
    "control": ({"id_number": "360102198503151238", "birth_date": dt.date(1985, 3, 15)}, None, []),
}


@pytest.fixture(scope="module")
def id_outcome(runner):
    labels = list(ID_CAUSES)
    frame = as_extract([{**base_row(), **ID_CAUSES[label][0]} for label in labels])
    result = runner.validate(frame, run_name="unit-id-causes")
    assert result.blocking == []
    return labels, result


@pytest.mark.parametrize("label", list(ID_CAUSES))
def test_each_rejected_identifier_gets_one_reason_naming_its_real_cause(id_outcome, label):
    labels, result = id_outcome
    _, reason, failed = ID_CAUSES[label]
    rejected = result.rejected.set_index("_source_row")
    if reason is None:
        assert labels.index(label) in set(result.valid["_source_row"])
        return
    row = rejected.loc[labels.index(label)]
    assert row["reason"] == reason
    assert sorted(f["expectation"] for f in json.loads(row["failed_expectations"])) == failed
    assert "出生日期与公民身份号码不一致" not in row["reason"] and "性别与公民身份号码" not in row["reason"]


# --- a value the source could not convert (issue 8): its evidence is the row's one reason ------------
# The source sets the value NULL (or shows NUL as ␀) and names it in _conversion_error; the not-null,
# min-length and identifier checks on that item fail too, but for the same cause.
CONVERSION = "值与目录声明的数据类型不符或无法存储 / a value is not of its item's declared type or cannot be stored"
NUL_ID = "公民身份号码(id_number) 含 NUL(0x00) 字符，数据库无法存储 / contains a NUL (0x00) character, which PostgreSQL cannot store"
NOT_A_DATE = "出生日期(birth_date) 1740787200000 不是D型 / is not a D value (expected an ISO date string, got int)"
CONVERSION_CAUSES = {
    # label: (row overrides, _conversion_error, the exact set of reasons)
    "nul_in_identifier": ({"id_number": "3601021985\u24003151238", "birth_date": dt.date(1985, 3, 15)}, NUL_ID,
                          {CONVERSION}),
    "nul_in_identifier_end": ({"id_number": "360102198503151238\u2400", "birth_date": dt.date(1985, 3, 15)}, NUL_ID,
                              {CONVERSION}),
    "epoch_ms_birth_date": ({"id_number": "360102198503151238", "birth_date": None}, NOT_A_DATE, {CONVERSION}),
    # another item's own defect keeps its own reason
    "epoch_ms_and_bad_status": ({"id_number": "360102198503151254", "birth_date": None, "registration_status": "未知"},
                                NOT_A_DATE, {CONVERSION, "户籍状态不在值域(正常/迁出/死亡)内 / registration status outside "
                                             "its value domain"}),
    "epoch_ms_and_name_missing": ({"id_number": "360102198503151211", "birth_date": None, "name": None},
                                  NOT_A_DATE, {CONVERSION, "姓名(name) 为空 / value is missing"}),
}


def test_a_converted_value_gets_one_reason_its_evidence_not_also_missing_or_invalid(runner):
    labels = list(CONVERSION_CAUSES)
    frame = as_extract([{**base_row(), **CONVERSION_CAUSES[label][0]} for label in labels])
    frame[CONVERSION_ERROR] = pd.Series([CONVERSION_CAUSES[label][1] for label in labels], dtype="string")
    result = runner.validate(frame, run_name="unit-conversion-causes")
    assert result.blocking == [] and result.valid.empty
    for _, row in result.rejected.iterrows():
        label = labels[row["_source_row"]]
        _, evidence, reasons = CONVERSION_CAUSES[label]
        assert {f["reason"] for f in json.loads(row["failed_expectations"])} == reasons, label
        stated, _, details = row["reason"].partition("（")
        assert set(stated.split("；")) == reasons and details == f"{evidence}）", label


def test_a_suite_repeating_a_catalog_check_is_rejected_naming_the_file(resource, tmp_path):
    from baselib.errors import CatalogError
    from baselib.settings import EXPECTATIONS_DIR
    from baselib.validation.suites import load_spec, suite_path

    spec = json.loads(suite_path(resource).read_text(encoding="utf-8"))
    spec["expectations"].append({"type": "expect_column_value_lengths_to_be_between",
                                 "kwargs": {"column": "name", "min_value": 1, "max_value": None},
                                 "severity": "critical", "meta": {"reason": "姓名为空 / name is empty"}})
    path = suite_path(resource, tmp_path)
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CatalogError) as raised:
        load_spec(resource, tmp_path)
    message = str(raised.value)
    assert str(path) in message and f"expectations[{len(spec['expectations']) - 1}]" in message
    assert "姓名(name) 为空 / value is missing" in message
    # the shipped suites repeat nothing
    from baselib.catalog import load_catalog

    for entry in load_catalog():
        load_spec(entry, EXPECTATIONS_DIR)


# --- certificate identifiers, type codes and holder codes through the certificate suite -----------
CERT_ID = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"


def cert_id(serial: str) -> str:
    """A valid identifier of the same type and issuer with another serial (a distinct key)."""
    body = f"11100000000013338W011.11430000006122244L.{serial}.001"
    return f"1.2.156.3005.2.{body}.{certificate_id.check_character(body.replace('.', ''))}"


CERT_COLUMNS = ["cert_identifier", "cert_name", "cert_type_name", "cert_type_code", "cert_number", "holder_name",
                "holder_code", "holder_code_type", "issuer_name", "issuer_code", "issue_date", "valid_from", "valid_to",
                "long_term", "jurisdiction_code", "status", "updated_at"]
CERT_CAUSES = {
    # label: (row overrides, the exact reason)
    "identifier_check": ({"cert_identifier": CERT_ID[:-1] + "0"},
                         "证照标识(cert_identifier) 校验码错误：应为 U，实为 0 / check character is wrong: should be U, found 0"),
    "identifier_version": ({"cert_identifier": CERT_ID.replace(".001.", ".01.")},
                           "证照标识(cert_identifier) 版本号「01」应为 3 位数字 / the version '01' must be 3 digits"),
    "type_code_letter": ({"cert_identifier": cert_id("20230000401"), "cert_type_code": "11100000000013338W01O"},
                         "证照类型代码(cert_type_code) 第 21 位为「O」(U+004F)，应为数字 / character 21 is 'O' (U+004F LATIN "
                         "CAPITAL LETTER O), not a digit"),
    "type_code_check": ({"cert_identifier": cert_id("20230000402"), "cert_type_code": "11100000000013338X011"},
                        "证照类型代码(cert_type_code) 前 18 位统一社会信用代码校验码错误：应为 W，实为 X / the credit code in "
                        "the first 18 characters: check character is wrong: should be W, found X"),
    "holder_fifteen_digit": ({"cert_identifier": cert_id("20230000403"), "holder_code": "360102850315125"},
                             "持证主体代码(holder_code) 作为公民身份号码（类型 111）为15位旧版号码（GB 11643-1989），按 GB "
                             "11643-1999 换算应为 360102198503151254 / as a citizen ID (type 111): 15-digit old-format "
                             "number (GB 11643-1989); its 18-digit form would be 360102198503151254"),
    "holder_credit_code": ({"cert_identifier": cert_id("20230000404"), "holder_code_type": "001",
                            "holder_code": "91110000600037341M"},
                           "持证主体代码(holder_code) 作为统一社会信用代码（类型 001）校验码错误：应为 L，实为 M / as a unified "
                           "social credit code (type 001): check character is wrong: should be L, found M"),
}


def test_certificate_identifiers_get_one_reason_naming_the_real_cause(tmp_path):
    from baselib.validation import cross_checks
    from baselib.validation.gx_fallback import SuiteRunner

    certificate = next(r for r in load_catalog() if r.dag_id == "base_e_certificate__certificate")
    parameters = {"as_of": AS_OF, "duplicate_keys": []}
    parameters |= {cross_checks.parameter_name(check): [] for check in certificate.pipeline.cross_checks}
    base = {"cert_identifier": CERT_ID, "cert_name": "营业执照", "cert_type_name": "营业执照",
            "cert_type_code": "11100000000013338W011", "cert_number": "N0001", "holder_name": "张三",
            "holder_code": "360102198503151238", "holder_code_type": "111", "issuer_name": "某市市场监督管理局",
            "issuer_code": "11430000006122244L", "issue_date": dt.date(2023, 1, 5), "valid_from": dt.date(2023, 1, 5),
            "valid_to": None, "long_term": True, "jurisdiction_code": "360102", "status": "有效", "updated_at": UPDATED}
    labels = list(CERT_CAUSES)
    frame = pd.DataFrame([{**base, **CERT_CAUSES[label][0]} for label in labels], columns=CERT_COLUMNS)
    frame[CONVERSION_ERROR] = pd.Series([None] * len(frame), dtype="string")
    frame["_source_row"] = pd.Series(range(len(frame)), dtype="int64")
    result = SuiteRunner(certificate, tmp_path, parameters).validate(frame, run_name="unit-certificate-causes")
    assert result.blocking == []
    reasons = dict(zip(result.rejected["_source_row"], result.rejected["reason"]))
    assert {labels[row]: reason for row, reason in reasons.items()} == {
        label: reason for label, (_, reason) in CERT_CAUSES.items()}


def test_division_diagnosis_is_more_specific_than_unknown_code_only_when_it_can_be():
    from baselib.identifiers import divisions

    registry = divisions.load()
    assert registry.diagnose("110103", include_abolished=False) == (
        "110103 已于 2010 年撤销或变更，不是在用代码", "110103 was abolished or changed in 2010; it is not in use")
    assert registry.diagnose("110103") is None  # abolished codes count by default
    assert registry.diagnose("990101") is None  # well-formed but unknown: the check's own reason names the role
    assert registry.diagnose("３６０１０２").zh.startswith("第 1 位为全角或兼容字符「３」")
