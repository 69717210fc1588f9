"""Citizen identity number (GB 11643-1999) — scalar and vectorised implementations.

The published examples come from /work/shared/domain.md. The property test compares the
engine with an independent re-implementation of ISO 7064 MOD 11-2 written from the standard.
"""
from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pyarrow as pa
import pytest

from baselib.identifiers import citizen_id

PUBLISHED = ["11010519491231002X", "360426199101010071", "120103198806018241", "34052419800101001X"]
PUBLISHED_FACTS = {
    # number: (birth date, sex code, division code)
    "11010519491231002X": (dt.date(1949, 12, 31), "2", "110105"),
    "360426199101010071": (dt.date(1991, 1, 1), "1", "360426"),
    "120103198806018241": (dt.date(1988, 6, 1), "2", "120103"),
    "34052419800101001X": (dt.date(1980, 1, 1), "1", "340524"),
}

# Independent reference (domain.md): weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, "10X98765432"[S mod 11]
_REF_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


def ref_check(body17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, _REF_WEIGHTS)) % 11]


def make_id(division: str, born: dt.date, seq: int) -> str:
    body = f"{division}{born:%Y%m%d}{seq:03d}"
    return body + citizen_id.check_character(body)


def _flip_check(number: str) -> str:
    wrong = next(c for c in "0123456789X" if c != number[17])
    return number[:17] + wrong


def test_reference_weights_match_domain_table():
    # guards the reference implementation used by the property test below
    assert _REF_WEIGHTS == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    assert list(citizen_id.WEIGHTS) == _REF_WEIGHTS


# --- published examples ------------------------------------------------------------------------
@pytest.mark.parametrize("number", PUBLISHED)
def test_published_examples_are_valid(number):
    assert citizen_id.is_valid(number)


@pytest.mark.parametrize("number", PUBLISHED)
def test_check_character_reproduces_published_check(number):
    assert citizen_id.check_character(number[:17]) == number[17]


@pytest.mark.parametrize("number", PUBLISHED)
def test_scalar_decoders_on_published_examples(number):
    born, sex, _division = PUBLISHED_FACTS[number]
    assert citizen_id.birth_date(number) == born
    assert citizen_id.sex_code(number) == sex


def test_vectorised_on_published_examples():
    col = citizen_id.IdColumn(PUBLISHED)
    assert col.valid().tolist() == [True] * 4
    assert col.check_ok().tolist() == [True] * 4
    expected_dates = np.array([PUBLISHED_FACTS[n][0] for n in PUBLISHED], dtype="datetime64[D]")
    assert col.birth_dates().dtype == np.dtype("datetime64[D]")
    np.testing.assert_array_equal(col.birth_dates(), expected_dates)
    assert col.sex_codes().tolist() == [PUBLISHED_FACTS[n][1] for n in PUBLISHED]
    assert col.division_codes().tolist() == [PUBLISHED_FACTS[n][2] for n in PUBLISHED]


def test_vectorised_accepts_arrow_arrays_chunked_and_sliced():
    chunked = pa.chunked_array([PUBLISHED[:2], PUBLISHED[2:]])
    assert citizen_id.IdColumn(chunked).valid().tolist() == [True] * 4
    sliced = pa.array(["bad", *PUBLISHED, None]).slice(1, 4)
    col = citizen_id.IdColumn(sliced)
    assert col.valid().tolist() == [True] * 4
    assert col.division_codes().tolist() == [PUBLISHED_FACTS[n][2] for n in PUBLISHED]


def test_vectorised_empty_column():
    col = citizen_id.IdColumn([])
    assert col.valid().shape == (0,)
    assert col.birth_dates().shape == (0,)


# --- crafted bad cases -------------------------------------------------------------------------
def _with_check(body17: str) -> str:
    return body17 + citizen_id.check_character(body17)


GOOD = "360426199101010071"
BAD_CASES = {
    "wrong check char": _flip_check(GOOD),
    "17 chars": GOOD[:17],
    "19 chars": GOOD + "1",
    "letter in body": "3604261991O1010071",  # capital O instead of zero
    "space in body": "360426 99101010071",
    "lowercase x": "11010519491231002x",
    # impossible birth dates, each with a correct check character
    "feb 30": _with_check("11010519900230012"),
    "month 13": _with_check("11010519901301012"),
    "day 00": _with_check("11010519900100012"),
    "feb 29 non-leap": _with_check("11010519000229012"),  # 1900 is not a leap year
    "apr 31": _with_check("11010520230431012"),
    "non-ascii": "３６０４２６１９９１０１０１００７１",  # full-width digits, 18 characters
    "chinese": "三六零四二六一九九一零一零一零零七一",
    "empty": "",
    "none": None,
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_numbers_rejected_by_scalar(case):
    assert citizen_id.is_valid(BAD_CASES[case]) is False


def test_bad_numbers_rejected_by_vectorised():
    values = list(BAD_CASES.values())
    col = citizen_id.IdColumn(values)
    assert col.valid().tolist() == [False] * len(values), dict(zip(BAD_CASES, col.valid().tolist()))


def test_impossible_dates_have_right_check_but_no_birth_date():
    # The check character is right, so only the date makes them invalid.
    for case in ("feb 30", "month 13", "day 00", "feb 29 non-leap", "apr 31"):
        number = BAD_CASES[case]
        assert citizen_id.check_character(number[:17]) == number[17]
        assert citizen_id.birth_date(number) is None
    col = citizen_id.IdColumn([BAD_CASES[c] for c in ("feb 30", "month 13", "day 00", "feb 29 non-leap", "apr 31")])
    assert col.check_ok().all()
    assert np.isnat(col.birth_dates()).all()
    assert not col.valid().any()


def test_leap_day_is_a_real_date():
    number = _with_check("11010520000229012")  # 2000 is a leap year
    assert citizen_id.is_valid(number)
    assert citizen_id.IdColumn([number]).birth_dates()[0] == np.datetime64("2000-02-29")


def test_lowercase_x_is_not_accepted_but_uppercase_is():
    assert citizen_id.is_valid("11010519491231002X")
    assert not citizen_id.is_valid("11010519491231002x")
    assert citizen_id.IdColumn(["11010519491231002X", "11010519491231002x"]).valid().tolist() == [True, False]


def test_malformed_rows_are_blank_in_vectorised_decoders():
    col = citizen_id.IdColumn([None, "123", GOOD, "３６０４２６１９９１０１０１００７１"])
    assert col.shaped.tolist() == [False, False, True, False]
    assert col.sex_codes().tolist() == ["", "", "1", ""]
    dates = col.birth_dates()
    assert np.isnat(dates[[0, 1, 3]]).all()
    assert dates[2] == np.datetime64("1991-01-01")
    assert col.division_codes()[2] == "360426"


@pytest.mark.parametrize("body", ["1234567890123456", "123456789012345678", "1234567890123456X", "abcdefghijklmnopq"])
def test_check_character_refuses_bad_bodies(body):
    with pytest.raises(ValueError):
        citizen_id.check_character(body)


def test_sex_code_parity():
    assert citizen_id.sex_code(make_id("360426", dt.date(1991, 1, 1), 7)) == "1"
    assert citizen_id.sex_code(make_id("360426", dt.date(1991, 1, 1), 8)) == "2"
    assert citizen_id.sex_code(make_id("360426", dt.date(1991, 1, 1), 0)) == "2"


# --- property-style: scalar, vectorised and reference agree ------------------------------------
def _random_bodies(rng: random.Random, n: int) -> list[str]:
    bodies = []
    for _ in range(n):
        division = f"{rng.randrange(110000, 660000):06d}"
        if rng.random() < 0.8:  # a real calendar date
            born = dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange(0, 130 * 366))
            date = f"{born:%Y%m%d}"
        else:  # often not a calendar date
            date = f"{rng.randrange(1800, 2100):04d}{rng.randrange(0, 14):02d}{rng.randrange(0, 33):02d}"
        bodies.append(f"{division}{date}{rng.randrange(0, 1000):03d}")
    return bodies


def test_property_scalar_vectorised_and_reference_agree():
    rng = random.Random(20261101)
    bodies = _random_bodies(rng, 3000)
    numbers = []
    for body in bodies:
        good = body + ref_check(body)
        assert citizen_id.check_character(body) == good[17], body
        numbers.append(good)
        numbers.append(_flip_check(good))
    col = citizen_id.IdColumn(numbers)
    vec_valid = col.valid()
    vec_dates = col.birth_dates()
    vec_sex = col.sex_codes()
    vec_div = col.division_codes()
    for i, number in enumerate(numbers):
        scalar = citizen_id.is_valid(number)
        assert bool(vec_valid[i]) == scalar, number
        born = citizen_id.birth_date(number)
        if born is None:
            assert np.isnat(vec_dates[i]), number
        else:
            assert vec_dates[i] == np.datetime64(born, "D"), number
        assert vec_sex[i] == citizen_id.sex_code(number)
        assert vec_div[i] == number[:6]
        # reference: right check char and a real date
        ref = number[17] == ref_check(number[:17]) and born is not None
        assert scalar == ref, number
    # the sample really exercised both outcomes
    assert 0.2 < vec_valid.mean() < 0.5


def test_property_random_strings_agree():
    rng = random.Random(7)
    alphabet = "0123456789X x-"
    values = ["".join(rng.choice(alphabet) for _ in range(rng.choice([16, 17, 18, 18, 18, 19]))) for _ in range(2000)]
    col = citizen_id.IdColumn(values)
    assert col.valid().tolist() == [citizen_id.is_valid(v) for v in values]


# --- regressions: non-ASCII digits and year 0000 (found by these tests) -----------------------
def test_year_0000_is_invalid_for_scalar_and_vectorised_checks():
    """Regression: IdColumn.birth_dates() accepted year 0000 (numpy's proleptic year 0) while the
    scalar birth_date()/is_valid() rejects it (datetime.date has no year 0). valid() is documented
    as the vectorised is_valid, so the two must agree — and 0000-01-01 is not a birth date."""
    number = _with_check("11010500000101001")
    assert citizen_id.is_valid(number) is False
    assert citizen_id.IdColumn([number]).valid().tolist() == [False]


def test_fullwidth_digits_are_rejected_by_scalar_check():
    """Regression: str.isdigit() is true for non-ASCII digits, so is_valid() accepted the
    published example written in full-width digits; the vectorised valid() rejects it."""
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in "11010519491231002X")
    assert len(fullwidth) == 18
    assert citizen_id.IdColumn([fullwidth]).valid().tolist() == [False]
    assert citizen_id.is_valid(fullwidth) is False


def test_superscript_digits_are_rejected_not_raised():
    """Regression: '²'.isdigit() is true but int('²') fails, so is_valid() raised ValueError
    instead of returning False."""
    assert citizen_id.is_valid("²" * 17 + "1") is False


# --- diagnosis: one cause per invalid number (issue 8, "reasons that name the true cause") -----
# Real-world examples: /work/shared/cases/real-world-inputs/population-*.json
DIAGNOSES = {
    # value: (Chinese, English) of the one cause
    "36010219900101107x": ("第 18 位为小写字母「x」，应为数字（第 18 位可为大写 X）",
                           "character 18 is 'x' (U+0078 LATIN SMALL LETTER X), not a digit (or an upper-case X as the 18th)"),
    "360102198503151238 ": ("第 19 位为空白字符(U+0020)，应为数字（第 18 位可为大写 X）",
                            "character 19 is ' ' (U+0020 SPACE), not a digit (or an upper-case X as the 18th)"),
    "3601021985 0315123": ("第 11 位为空白字符(U+0020)，应为数字（第 18 位可为大写 X）",
                           "character 11 is ' ' (U+0020 SPACE), not a digit (or an upper-case X as the 18th)"),
    "36010219850315\u200b1238": ("第 15 位为不可见字符(U+200B)，应为数字（第 18 位可为大写 X）",
                                 "character 15 is '\u200b' (U+200B ZERO WIDTH SPACE), not a digit (or an upper-case X as the 18th)"),
    "3604261991O1010071": ("第 11 位为「O」(U+004F)，应为数字（第 18 位可为大写 X）",
                           "character 11 is 'O' (U+004F LATIN CAPITAL LETTER O), not a digit (or an upper-case X as the 18th)"),
    "36042619X1010100711": ("第 9 位为「X」(U+0058)，应为数字（第 18 位可为大写 X）",
                            "character 9 is 'X' (U+0058 LATIN CAPITAL LETTER X), not a digit (or an upper-case X as the 18th)"),
    "36010219850315121": ("长度为 17 位，应为 18 位", "17 characters long, expected 18"),
    "3601021985031512111": ("长度为 19 位，应为 18 位", "19 characters long, expected 18"),
    _with_check("36010219901301107"): ("出生日期码 19901301 不是有效日期", "birth-date part 19901301 is not a calendar date"),
    _with_check("11010519000229012"): ("出生日期码 19000229 不是有效日期", "birth-date part 19000229 is not a calendar date"),
    "360102198503151212": ("校验码错误：应为 1，实为 2", "check character is wrong: should be 1, found 2"),
    "11010519491231002Z"[:17] + "3": ("校验码错误：应为 X，实为 3", "check character is wrong: should be X, found 3"),
}


@pytest.mark.parametrize("number", list(DIAGNOSES))
def test_diagnose_names_the_one_real_cause(number):
    assert citizen_id.diagnose(number) == DIAGNOSES[number]


def test_diagnose_fullwidth_names_the_fullwidth_character_and_how_many():
    cause = citizen_id.diagnose("３６０１０２１９８５０３１５１２０３")
    assert cause.zh == "第 1 位为全角或兼容字符「３」(U+FF13)，应为数字（第 18 位可为大写 X）；共 18 处这样的字符"
    assert cause.en == ("character 1 is '３' (U+FF13 FULLWIDTH DIGIT THREE), not a digit (or an upper-case X as the "
                        "18th); 18 characters are not allowed")
    # no false reasons: nothing about the check character or the birth date
    assert "校验码" not in cause.zh and "出生日期" not in cause.zh


def test_fifteen_digit_number_is_named_with_its_gb11643_conversion():
    # GB 11643-1999: insert "19" before YYMMDD and append the MOD 11-2 check character
    old = "360102850315125"
    converted = "360102" + "19" + "850315125"
    converted += ref_check(converted)  # the independent reference, not the engine
    assert converted == "360102198503151254"
    assert citizen_id.from_old_format(old) == converted and citizen_id.is_valid(converted)
    assert citizen_id.diagnose(old) == (
        "为15位旧版号码（GB 11643-1989），按 GB 11643-1999 换算应为 360102198503151254",
        "15-digit old-format number (GB 11643-1989); its 18-digit form would be 360102198503151254")


def test_fifteen_digit_number_with_an_impossible_date_gets_no_conversion_hint():
    assert citizen_id.diagnose("360102851315125") == ("为15位旧版号码（GB 11643-1989）",
                                                      "15-digit old-format number (GB 11643-1989)")


@pytest.mark.parametrize("bad", ["36010285031512", "36010285031512X", "３６０１０２８５０３１５１２５"])
def test_from_old_format_refuses_anything_but_15_digits(bad):
    with pytest.raises(ValueError):
        citizen_id.from_old_format(bad)


def test_diagnose_agrees_with_is_valid():
    rng = random.Random(11643)
    values = list(PUBLISHED) + [v for v in BAD_CASES.values() if v is not None] + list(DIAGNOSES)
    for body in _random_bodies(rng, 1000):
        good = body + ref_check(body)
        values += [good, _flip_check(good), good[:15], good[:6] + good[8:17], good + " "]
    alphabet = "0123456789Xx ３\u3000"
    values += ["".join(rng.choice(alphabet) for _ in range(rng.choice([0, 15, 17, 18, 18, 19]))) for _ in range(1000)]
    for value in values:
        assert (citizen_id.diagnose(value) is None) == citizen_id.is_valid(value), value


def test_structured_rows_only_have_birth_date_and_sex():
    # a junk 18th character makes the ID unreadable: no birth date, no sex to compare
    col = citizen_id.IdColumn(["360426199101010071", "36042619910101007#", "36042619910101007X"])
    assert col.structured.tolist() == [True, False, True]
    assert np.isnat(col.birth_dates()).tolist() == [False, True, False]
    assert col.sex_codes().tolist() == ["1", "", "1"]
