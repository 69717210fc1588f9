"""The organisation expectations (credit code, embedded organisation code, division, authority/
category, identifier for its type, dates in order, numeric bounds), run through real Great
Expectations via SuiteRunner with the legal-entity resource and its suite."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pyarrow as pa
import pytest

from baselib.catalog import load_catalog
from baselib.identifiers import citizen_id, credit_code
from baselib.sources.extract import CONVERSION_ERROR

AS_OF = "2026-11-01T16:00:00+00:00"
UPDATED = dt.datetime(2026, 10, 31, 8, 0, tzinfo=dt.timezone.utc)
COLUMNS = ["credit_code", "entity_name", "entity_type", "status", "legal_rep_name", "legal_rep_id_type",
           "legal_rep_id_number", "address", "division_code", "registered_capital", "currency",
           "established_on", "term_start", "term_end", "approved_on", "registration_authority",
           "industry_code", "business_scope", "updated_at"]


def make_code(pair: str, division: str, body8: str) -> str:
    """A credit code with a correct organisation-code check and a correct 18th character."""
    body17 = pair + division + body8 + credit_code.org_check_character(body8)
    return body17 + credit_code.check_character(body17)


def recheck(code17: str) -> str:
    """Any 17 symbols plus the right 18th character (the embedded parts may be wrong)."""
    return code17 + credit_code.check_character(code17)


def make_id(division: str, born: dt.date, seq: int) -> str:
    body = f"{division}{born:%Y%m%d}{seq:03d}"
    return body + citizen_id.check_character(body)


def wrong_check(code: str, alphabet: str) -> str:
    return code[:17] + next(c for c in alphabet if c != code[17])


ORG_BODY = "70123456"
GOOD = make_code("91", "360426", ORG_BODY)
DUP = make_code("91", "430102", "70999999")
WRONG_ORG = ORG_BODY + next(c for c in "0123456789X" if c != credit_code.org_check_character(ORG_BODY))

# label -> (row overrides, expected reason fragment or None for a row that must load)
CASES: dict[str, tuple[dict, str | None]] = {
    "clean_enterprise": ({}, None),
    "clean_published_ma": ({"credit_code": "91350100M000100Y43"}, None),
    "clean_published_numeric": ({"credit_code": "91110000600037341L"}, None),
    "clean_letter_authority": ({"credit_code": make_code("N2", "360426", "70000001"), "entity_type": "农村集体经济组织"},
                               None),
    "clean_public_institution": ({"credit_code": make_code("12", "360400", "49100001"), "entity_type": "事业单位"},
                                 None),
    "clean_foundation": ({"credit_code": make_code("53", "360000", "50000003")}, None),
    "clean_abolished_division_in_code": ({"credit_code": make_code("91", "110103", "10000007")}, None),
    "clean_passport_rep": ({"credit_code": make_code("91", "360426", "70000002"), "legal_rep_id_type": "414",
                            "legal_rep_id_number": "E12345678"}, None),
    "clean_org_rep": ({"credit_code": make_code("91", "360426", "70000003"), "legal_rep_id_type": "001",
                       "legal_rep_id_number": "91110108551385082Q"}, None),
    "clean_long_term": ({"credit_code": make_code("91", "360426", "70000004"), "term_end": None}, None),
    "clean_same_day_dates": ({"credit_code": make_code("91", "360426", "70000005"),
                              "approved_on": dt.date(2010, 5, 6)}, None),
    "warn_capital": ({"credit_code": make_code("91", "360426", "70000006"), "registered_capital": "5000000000000.0000"},
                     None),
    "warn_scope_empty": ({"credit_code": make_code("91", "360426", "70000007"), "business_scope": ""}, None),
    "warn_scope_null": ({"credit_code": make_code("91", "360426", "70000008"), "business_scope": None}, None),
    "bad_check_char": ({"credit_code": wrong_check(make_code("91", "360426", "70000009"), credit_code.ALPHABET)},
                       "统一社会信用代码(credit_code) 校验码错误：应为 "),
    "bad_check_char_excluded_letter": ({"credit_code": make_code("91", "360426", "70000010")[:17] + "I"},
                                       "统一社会信用代码(credit_code) 第 18 位「I」不是 GB 32100 使用的字符"),
    "bad_org_check": ({"credit_code": recheck("91360426" + WRONG_ORG)},
                      f"统一社会信用代码(credit_code) 第 9–17 位组织机构代码 {WRONG_ORG} 校验码错误：应为 "),
    "unknown_division_in_code": ({"credit_code": make_code("91", "990101", "70000011")}, "行政区划码不存在"),
    "bad_authority_category": ({"credit_code": make_code("97", "360426", "70000012")}, "组合未定义"),
    "bad_rep_id_check": ({"credit_code": make_code("91", "360426", "70000013"),
                          "legal_rep_id_number": wrong_check(make_id("360426", dt.date(1970, 1, 2), 11),
                                                             "0123456789X")},
                         "法定代表人证件号码(legal_rep_id_number) 作为公民身份号码（类型 111）校验码错误：应为 "),
    "bad_rep_id_short": ({"credit_code": make_code("91", "360426", "70000014"),
                          "legal_rep_id_number": make_id("360426", dt.date(1970, 1, 2), 13)[:17]},
                         "法定代表人证件号码(legal_rep_id_number) 作为公民身份号码（类型 111）长度为 17 位，应为 18 位 / "
                         "as a citizen ID (type 111): 17 characters long, expected 18"),
    "bad_org_rep": ({"credit_code": make_code("91", "360426", "70000015"), "legal_rep_id_type": "001",
                     "legal_rep_id_number": "91110108551385083Q"},
                    "法定代表人证件号码(legal_rep_id_number) 作为统一社会信用代码（类型 001）校验码错误：应为 "),
    "bad_status": ({"credit_code": make_code("91", "360426", "70000016"), "status": "停业"}, "登记状态不在值域"),
    "term_end_before_start": ({"credit_code": make_code("91", "360426", "70000017"), "term_end": dt.date(2009, 1, 1)},
                              "日期不一致"),
    "approved_before_established": ({"credit_code": make_code("91", "360426", "70000018"),
                                     "approved_on": dt.date(2010, 5, 5)}, "日期不一致"),
    "established_in_future": ({"credit_code": make_code("91", "360426", "70000019"),
                               "established_on": dt.date(2027, 1, 1), "term_start": dt.date(2027, 1, 1),
                               "approved_on": dt.date(2027, 1, 1), "term_end": None}, "成立日期晚于数据截止日"),
    "dup_first": ({"credit_code": DUP}, "主键(credit_code)在本次抽取中重复"),
    "dup_second": ({"credit_code": DUP, "entity_name": "另一家有限公司"}, "主键(credit_code)在本次抽取中重复"),
}
LABELS = list(CASES)
CLEAN = [label for label, (_, reason) in CASES.items() if reason is None]
DEFECTIVE = [label for label, (_, reason) in CASES.items() if reason is not None]
WARNED = ["warn_capital", "warn_scope_empty", "warn_scope_null"]


def base_row() -> dict:
    return {
        "credit_code": GOOD,
        "entity_name": "德安县恒达科技有限公司",
        "entity_type": "有限责任公司（自然人投资或控股）",
        "status": "存续",
        "legal_rep_name": "张三",
        "legal_rep_id_type": "111",
        "legal_rep_id_number": make_id("360426", dt.date(1970, 1, 2), 7),
        "address": "江西省德安县人民路1号",
        "division_code": "360426",
        "registered_capital": "100.0000",
        "currency": "CNY",
        "established_on": dt.date(2010, 5, 6),
        "term_start": dt.date(2010, 5, 6),
        "term_end": dt.date(2040, 5, 5),
        "approved_on": dt.date(2020, 3, 1),
        "registration_authority": "德安县市场监督管理局",
        "industry_code": "I6510",
        "business_scope": "软件开发；信息技术咨询服务。",
        "updated_at": UPDATED,
    }


def build_frame(cases: dict = CASES) -> pd.DataFrame:
    rows = [{**base_row(), **overrides} for overrides, _ in cases.values()]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame[CONVERSION_ERROR] = pd.Series([None] * len(frame), dtype="string")
    frame["_source_row"] = pd.Series(range(len(frame)), dtype="int64")
    return frame


def row_of(label: str) -> int:
    return LABELS.index(label)


@pytest.fixture(scope="module")
def resource():
    return next(r for r in load_catalog() if r.dag_id == "base_legal_entity__legal_entity")


@pytest.fixture(scope="module")
def runner(resource, tmp_path_factory):
    from baselib.validation.executor import key_strings
    from baselib.validation.gx_fallback import SuiteRunner

    duplicates = key_strings(pd.DataFrame({"credit_code": [DUP]}), ["credit_code"]).tolist()
    return SuiteRunner(resource, tmp_path_factory.mktemp("data_docs"), {"as_of": AS_OF, "duplicate_keys": duplicates})


@pytest.fixture(scope="module")
def outcome(runner):
    return runner.validate(build_frame(), run_name="unit-organisation")


def test_frame_sanity():
    frame = build_frame()
    for label in CLEAN:
        code = frame.loc[row_of(label), "credit_code"]
        assert credit_code.is_valid(code) and credit_code.is_valid_org_code(code[8:17]), label
    bad_org = frame.loc[row_of("bad_org_check"), "credit_code"]
    assert credit_code.is_valid(bad_org) and not credit_code.is_valid_org_code(bad_org[8:17])
    assert credit_code.is_valid(frame.loc[row_of("unknown_division_in_code"), "credit_code"])
    assert credit_code.is_valid(frame.loc[row_of("bad_authority_category"), "credit_code"])
    assert not credit_code.is_valid(frame.loc[row_of("bad_check_char"), "credit_code"])


def test_valid_rows_are_exactly_the_clean_ones(outcome):
    assert outcome.blocking == []
    assert sorted(outcome.valid["_source_row"]) == sorted(row_of(label) for label in CLEAN)
    assert list(outcome.valid.columns) == COLUMNS + [CONVERSION_ERROR, "_source_row"]


def test_every_defective_row_is_rejected(outcome):
    assert sorted(outcome.rejected["_source_row"]) == sorted(row_of(label) for label in DEFECTIVE)


@pytest.mark.parametrize("label", DEFECTIVE)
def test_rejection_reason(outcome, label):
    row = outcome.rejected.set_index("_source_row").loc[row_of(label)]
    assert CASES[label][1] in row["reason"], row["reason"]
    assert row["record_key"] == build_frame().loc[row_of(label), "credit_code"]
    failed = json.loads(row["failed_expectations"])
    assert failed and all(f["severity"] == "critical" for f in failed)


@pytest.mark.parametrize(
    "labels, expectation",
    [
        (["bad_check_char", "bad_check_char_excluded_letter"], "expect_column_values_to_be_valid_credit_code"),
        (["bad_org_check"], "expect_column_values_credit_code_to_embed_valid_org_code"),
        (["unknown_division_in_code"], "expect_column_values_credit_code_to_embed_known_division"),
        (["bad_authority_category"], "expect_column_values_credit_code_to_have_defined_authority_category"),
        (["bad_rep_id_check", "bad_rep_id_short", "bad_org_rep"],
         "expect_column_pair_values_identifier_to_be_valid_for_type"),
        (["term_end_before_start", "approved_before_established"], "expect_multicolumn_dates_to_be_in_order"),
    ],
)
def test_custom_expectation_flags_only_its_defect(outcome, labels, expectation):
    rejected = outcome.rejected.set_index("_source_row")
    for label in labels:
        failed = json.loads(rejected.loc[row_of(label), "failed_expectations"])
        assert [f["expectation"] for f in failed] == [expectation], (label, failed)
    others = [int(rid) for rid, text in rejected["failed_expectations"].items()
              if any(f["expectation"] == expectation for f in json.loads(text))]
    assert sorted(others) == sorted(row_of(label) for label in labels)


def test_future_establishment_is_reported_by_the_date_check(outcome):
    failed = json.loads(outcome.rejected.set_index("_source_row").loc[row_of("established_in_future"),
                                                                        "failed_expectations"])
    assert {f["expectation"] for f in failed} == {"expect_column_values_to_not_be_in_the_future"}


def test_warnings_do_not_reject_but_are_counted(outcome):
    assert {row_of(label) for label in WARNED} <= set(outcome.valid["_source_row"])
    assert outcome.warned_rows == len(WARNED)
    assert any("registered_capital" in w and "1 rows" in w and "注册资本异常" in w for w in outcome.warnings), \
        outcome.warnings
    assert any("business_scope" in w and "经营范围为空" in w for w in outcome.warnings), outcome.warnings


def test_arrow_round_trip_frame_gives_same_split(runner, outcome):
    frame = pa.Table.from_pandas(build_frame(), preserve_index=False).to_pandas()
    again = runner.validate(frame, run_name="unit-organisation-arrow")
    assert again.blocking == []
    assert sorted(again.valid["_source_row"]) == sorted(outcome.valid["_source_row"])
    assert sorted(again.rejected["_source_row"]) == sorted(outcome.rejected["_source_row"])
    assert again.warned_rows == outcome.warned_rows


def test_malformed_and_missing_codes(runner):
    cases = {
        "too_short": ({"credit_code": GOOD[:17]}, None),
        "lower_case": ({"credit_code": GOOD.lower()}, None),
        "missing": ({"credit_code": None}, None),
        "missing_rep_type": ({"credit_code": make_code("91", "360426", "70000020"), "legal_rep_id_type": None}, None),
    }
    frame = build_frame(cases)
    result = runner.validate(frame, run_name="unit-organisation-malformed")
    reasons = dict(zip(result.rejected["_source_row"], result.rejected["reason"]))
    # one cause, one reason: the embedded parts of a malformed code are not checked
    assert reasons[0] == "统一社会信用代码(credit_code) 长度为 17 位，应为 18 位 / 17 characters long, expected 18"
    assert reasons[1].startswith(f"统一社会信用代码(credit_code) 第 18 位为小写字母「{GOOD[17].lower()}」")
    assert "；" not in reasons[1]
    # a missing value is reported once, by the catalog's not-null check
    assert reasons[2] == "统一社会信用代码(credit_code) 为空 / value is missing"
    assert reasons[3] == "法定代表人证件类型(legal_rep_id_type) 为空 / value is missing"


def test_credit_code_column_matches_scalar_implementation():
    import random

    from baselib.validation.expectations.organisation import CreditCodeColumn

    rng = random.Random(5)
    codes = ["91110000600037341L", "91110108551385082Q", "91350100M000100Y43", None, "", "X" * 18, "９" * 6]
    for _ in range(2000):
        body = "".join(rng.choice(credit_code.ALPHABET) for _ in range(17))
        codes.append(body + rng.choice(credit_code.ALPHABET))
        codes.append(body + credit_code.check_character(body))
    column = CreditCodeColumn(codes)
    assert column.check_ok().tolist() == [credit_code.is_valid(c) for c in codes]
    # the embedded code is checked only in a well-formed code: 18 symbols of the credit alphabet
    well_formed = [isinstance(c, str) and len(c) == 18 and all(ch in credit_code.ALPHABET for ch in c) for c in codes]
    assert column.well_formed.tolist() == well_formed
    assert column.org_code_ok().tolist() == [not ok or credit_code.is_valid_org_code(c[8:17])
                                             for c, ok in zip(codes, well_formed)]


def test_defined_pairs_include_the_confirmed_ones():
    from baselib.validation.expectations.organisation import DEFINED_PAIRS

    assert {"11", "12", "51", "52", "53", "91", "92", "93"} <= set(DEFINED_PAIRS)
    assert not {"97", "58", "15", "94", "99"} & set(DEFINED_PAIRS)


# --- one cause, one reason for credit codes (issue 8) ----------------------------------------------
CODE_CAUSES = {
    # label: (credit code, the exact reason, the failed expectations)
    "excluded_O": (GOOD[:9] + "O" + GOOD[10:],
                   "统一社会信用代码(credit_code) 第 10 位「O」不是 GB 32100 使用的字符（不用 I、O、S、V、Z） / "
                   "character 10, 'O', is not used by GB 32100 (no I, O, S, V or Z)",
                   ["expect_column_values_to_be_valid_credit_code"]),
    "excluded_Z_first": ("Z" + GOOD[1:],
                         "统一社会信用代码(credit_code) 第 1 位「Z」不是 GB 32100 使用的字符（不用 I、O、S、V、Z） / "
                         "character 1, 'Z', is not used by GB 32100 (no I, O, S, V or Z)",
                         ["expect_column_values_to_be_valid_credit_code"]),
    "lower_case_check": ("91110000600037341l",
                         "统一社会信用代码(credit_code) 第 18 位为小写字母「l」，应为数字或大写字母 / character 18 is 'l' "
                         "(U+006C LATIN SMALL LETTER L), not a digit or a capital letter",
                         ["expect_column_values_to_be_valid_credit_code"]),
    "fullwidth": ("９1110000600037341L",
                  "统一社会信用代码(credit_code) 第 1 位为全角或兼容字符「９」(U+FF19)，应为数字或大写字母 / character 1 is "
                  "'９' (U+FF19 FULLWIDTH DIGIT NINE), not a digit or a capital letter",
                  ["expect_column_values_to_be_valid_credit_code"]),
    "wrong_check": ("91110000600037341M",
                    "统一社会信用代码(credit_code) 校验码错误：应为 L，实为 M / check character is wrong: should be L, found M",
                    ["expect_column_values_to_be_valid_credit_code"]),
    "nineteen": (GOOD + "1",
                 "统一社会信用代码(credit_code) 长度为 19 位，应为 18 位 / 19 characters long, expected 18",
                 ["expect_column_value_lengths_to_be_between", "expect_column_values_to_be_valid_credit_code"]),
    "embedded_org": (recheck("91360426" + WRONG_ORG),
                     f"统一社会信用代码(credit_code) 第 9–17 位组织机构代码 {WRONG_ORG} 校验码错误：应为 "
                     f"{credit_code.org_check_character(ORG_BODY)}，实为 {WRONG_ORG[8]} / the embedded organisation code "
                     f"{WRONG_ORG} (characters 9-17): check character is wrong: should be "
                     f"{credit_code.org_check_character(ORG_BODY)}, found {WRONG_ORG[8]}",
                     ["expect_column_values_credit_code_to_embed_valid_org_code"]),
}


def test_each_rejected_credit_code_gets_one_reason_naming_its_real_cause(runner):
    labels = list(CODE_CAUSES)
    frame = build_frame({label: ({"credit_code": code}, None) for label, (code, _, _) in CODE_CAUSES.items()})
    result = runner.validate(frame, run_name="unit-organisation-causes")
    assert result.blocking == []
    rejected = result.rejected.set_index("_source_row")
    for label, (_, reason, failed) in CODE_CAUSES.items():
        row = rejected.loc[labels.index(label)]
        assert row["reason"] == reason, label
        assert sorted(f["expectation"] for f in json.loads(row["failed_expectations"])) == failed, label


def test_organisation_code_expectation_and_its_diagnosis():
    import great_expectations as gx

    from baselib.validation.expectations.common import DIAGNOSES
    from baselib.validation.expectations.organisation import ExpectColumnValuesToBeValidOrganisationCode

    codes = ["600037341", "M000100Y4", "", None, "600037342", "m000100Y4", "60003734", "６00037341"]
    context = gx.get_context(mode="ephemeral")
    batch = (context.data_sources.add_pandas("org").add_dataframe_asset("codes")
             .add_batch_definition_whole_dataframe("all")
             .get_batch(batch_parameters={"dataframe": pd.DataFrame({"org": codes})}))
    result = batch.validate(ExpectColumnValuesToBeValidOrganisationCode(column="org"), result_format="COMPLETE")
    assert result.result["unexpected_index_list"] == [4, 5, 6, 7]  # the empty text and NULL are missing, not invalid
    explain = DIAGNOSES["expect_column_values_to_be_valid_organisation_code"].explain
    assert explain({}, "600037342") == ("校验码错误：应为 1，实为 2", "check character is wrong: should be 1, found 2")
    assert explain({}, "６00037341").zh == "第 1 位为全角或兼容字符「６」(U+FF16)，应为数字或大写字母"
