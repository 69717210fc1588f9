"""Unified social credit code (GB 32100-2015) and organisation code (GB 11714-1997)."""
from __future__ import annotations

import itertools
import random

import pytest

from baselib.identifiers import credit_code

PUBLISHED = ["91110000600037341L", "91110108551385082Q", "91350100M000100Y43"]
PUBLISHED_ORG = ["600037341", "551385082", "M000100Y4"]

# Independent reference written from domain.md (not from the engine's tables).
REF_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
REF_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
REF_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


def ref_check(body17: str) -> str:
    check = 31 - sum(REF_ALPHABET.index(c) * w for c, w in zip(body17, REF_WEIGHTS)) % 31
    return REF_ALPHABET[0 if check == 31 else check]


def ref_org_sum(body8: str) -> int:
    values = [int(c) if c.isdigit() else ord(c) - ord("A") + 10 for c in body8]
    return sum(v * w for v, w in zip(values, REF_ORG_WEIGHTS))


def test_alphabet_excludes_i_o_z_s_v():
    assert credit_code.ALPHABET == REF_ALPHABET
    assert len(credit_code.ALPHABET) == 31
    assert not set("IOZSV") & set(credit_code.ALPHABET)
    assert list(credit_code.WEIGHTS) == REF_WEIGHTS


# --- credit codes ------------------------------------------------------------------------------
@pytest.mark.parametrize("code", PUBLISHED)
def test_published_credit_codes_valid(code):
    assert credit_code.is_valid(code)
    assert credit_code.check_character(code[:17]) == code[17]


@pytest.mark.parametrize("code, org", list(zip(PUBLISHED, PUBLISHED_ORG)))
def test_embedded_org_code_of_published_examples(code, org):
    assert code[8:17] == org
    assert credit_code.is_valid_org_code(code[8:17])


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_credit_codes_with_any_other_check_char_invalid(code):
    others = [c for c in REF_ALPHABET if c != code[17]]
    assert len(others) == 30
    assert not any(credit_code.is_valid(code[:17] + c) for c in others)


@pytest.mark.parametrize(
    "body",
    [
        "N2360000" + "MA35XXXX" + "1",  # 农业 authority, letters in the org code
        "N1110000600037341",
        "Y1110000600037341",
        "Y2350100M000100Y4",
        "A1110108551385082",
        "51360000MJD123456",  # 民政 social group
        "12360000491012345",  # 编制 public institution
    ],
)
def test_letter_leading_and_other_authority_codes_valid(body):
    # python-stdnum rejects N…/Y…/A… codes; the engine must accept them when the check is right.
    code = body + credit_code.check_character(body)
    assert code[17] == ref_check(body)
    assert credit_code.is_valid(code)
    assert not credit_code.is_valid(body + next(c for c in REF_ALPHABET if c != code[17]))


@pytest.mark.parametrize("letter", list("IOZSV"))
def test_excluded_letters_rejected(letter):
    good = "91350100M000100Y43"
    for pos in (0, 9, 15, 17):
        assert not credit_code.is_valid(good[:pos] + letter + good[pos + 1 :]), (letter, pos)
    with pytest.raises(ValueError):
        credit_code.check_character(good[:9] + letter + good[10:17])


@pytest.mark.parametrize(
    "code",
    [
        None,
        "",
        "91110000600037341",  # 17
        "91110000600037341LL",  # 19
        "91110000600037341l",  # lowercase check
        "91350100m000100Y43",  # lowercase in body
        "9111000060003734-L",
        "９1110000600037341L",  # full-width digit
        "91110000600037341M",  # wrong check
    ],
)
def test_bad_credit_codes_rejected(code):
    assert credit_code.is_valid(code) is False


def test_check_remainder_zero_maps_to_zero():
    # Σ ≡ 0 (mod 31) gives 31 → "0"; the all-zero body is the simplest such case.
    assert credit_code.check_character("0" * 17) == "0"
    assert credit_code.is_valid("0" * 18)


def test_property_credit_code_matches_reference():
    rng = random.Random(32100)
    seen_checks = set()
    for _ in range(3000):
        body = "".join(rng.choice(REF_ALPHABET) for _ in range(17))
        expected = ref_check(body)
        seen_checks.add(expected)
        assert credit_code.check_character(body) == expected, body
        assert credit_code.is_valid(body + expected)
        wrong = REF_ALPHABET[(REF_ALPHABET.index(expected) + rng.randrange(1, 31)) % 31]
        assert not credit_code.is_valid(body + wrong), body
    assert seen_checks == set(REF_ALPHABET)


# --- organisation codes ------------------------------------------------------------------------
@pytest.mark.parametrize("code", PUBLISHED_ORG)
def test_published_org_codes_valid(code):
    assert credit_code.is_valid_org_code(code)
    assert credit_code.org_check_character(code[:8]) == code[8]


@pytest.mark.parametrize(
    "code",
    [
        None,
        "",
        "60003734",  # 8
        "6000373410",  # 10
        "600037342",  # wrong check
        "551385083",
        "M000100Y5",
        "m000100y4",  # lowercase
        "M000100Y-",
        "60003734-1",
        "60003734 ",
    ],
)
def test_bad_org_codes_rejected(code):
    assert credit_code.is_valid_org_code(code) is False


def _find_body(residue: int) -> str:
    for digits in itertools.product("0123456789", repeat=8):
        body = "".join(digits[::-1])
        if ref_org_sum(body) % 11 == residue and body != "0" * 8:
            return body
    raise AssertionError("no body found")


def test_org_check_ten_is_written_x():
    body = _find_body(1)  # 11 - 1 = 10
    assert credit_code.org_check_character(body) == "X"
    assert credit_code.is_valid_org_code(body + "X")
    assert not credit_code.is_valid_org_code(body + "x")
    assert not credit_code.is_valid_org_code(body + "1")  # not "10" truncated


def test_org_check_eleven_is_written_zero():
    body = _find_body(0)  # 11 - 0 = 11
    assert credit_code.org_check_character(body) == "0"
    assert credit_code.is_valid_org_code(body + "0")
    assert not credit_code.is_valid_org_code(body + "1")


def test_org_check_with_letters_matches_reference():
    rng = random.Random(11714)
    chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for _ in range(2000):
        body = "".join(rng.choice(chars) for _ in range(8))
        check = 11 - ref_org_sum(body) % 11
        expected = {10: "X", 11: "0"}.get(check, str(check))
        assert credit_code.org_check_character(body) == expected, body
        assert credit_code.is_valid_org_code(body + expected)


@pytest.mark.parametrize("body", ["6000373", "600037341", "m000100y", "M000100-"])
def test_org_check_character_refuses_bad_bodies(body):
    with pytest.raises(ValueError):
        credit_code.org_check_character(body)


def test_fullwidth_digit_org_code_is_rejected():
    """Regression: org_check_character() uses str.isdigit(), which accepts non-ASCII digits
    (int('６') == 6), so a code with a full-width digit passes is_valid_org_code()."""
    assert credit_code.is_valid_org_code("600037341")
    assert credit_code.is_valid_org_code("６00037341") is False


def test_vectorised_credit_code_check_agrees_with_the_scalar_one():
    import random

    rng = random.Random(3)
    samples = ["91110000600037341L", "91110108551385082Q", "91350100M000100Y43", None, "", "9111000060003734IL"]
    for _ in range(2000):
        body = "".join(rng.choice(credit_code.ALPHABET) for _ in range(17))
        check = credit_code.check_character(body) if rng.random() < 0.5 else rng.choice(credit_code.ALPHABET)
        samples.append(body + check)
    from baselib.identifiers.credit_code_column import CreditCodeColumn

    expected = [credit_code.is_valid(s) for s in samples]
    assert CreditCodeColumn(samples).check_ok().tolist() == expected
    assert sum(expected) > 900


# --- diagnosis: one cause per invalid code ----------------------------------------------------
@pytest.mark.parametrize("letter", list("IOSVZ"))
@pytest.mark.parametrize("position", [0, 9, 17])
def test_diagnose_names_a_letter_gb32100_does_not_use(letter, position):
    good = "91350100M000100Y43"
    code = good[:position] + letter + good[position + 1:]
    assert credit_code.diagnose(code) == (
        f"第 {position + 1} 位「{letter}」不是 GB 32100 使用的字符（不用 I、O、S、V、Z）",
        f"character {position + 1}, '{letter}', is not used by GB 32100 (no I, O, S, V or Z)")


@pytest.mark.parametrize("code, cause", [
    ("91110000600037341M", ("校验码错误：应为 L，实为 M", "check character is wrong: should be L, found M")),
    ("91110108551385082A", ("校验码错误：应为 Q，实为 A", "check character is wrong: should be Q, found A")),
    ("91110000600037341", ("长度为 17 位，应为 18 位", "17 characters long, expected 18")),
    ("91110000600037341LL", ("长度为 19 位，应为 18 位", "19 characters long, expected 18")),
    ("91110000600037341l", ("第 18 位为小写字母「l」，应为数字或大写字母",
                            "character 18 is 'l' (U+006C LATIN SMALL LETTER L), not a digit or a capital letter")),
    ("９1110000600037341L", ("第 1 位为全角或兼容字符「９」(U+FF19)，应为数字或大写字母",
                            "character 1 is '９' (U+FF19 FULLWIDTH DIGIT NINE), not a digit or a capital letter")),
    ("9111000060003734-L", ("第 17 位为「-」(U+002D)，应为数字或大写字母",
                            "character 17 is '-' (U+002D HYPHEN-MINUS), not a digit or a capital letter")),
    ("91110000600037341L", None),
    ("91350100M000100Y43", None),
])
def test_diagnose_credit_code(code, cause):
    assert credit_code.diagnose(code) == cause


@pytest.mark.parametrize("code, cause", [
    ("600037342", ("校验码错误：应为 1，实为 2", "check character is wrong: should be 1, found 2")),
    ("M000100Y5", ("校验码错误：应为 4，实为 5", "check character is wrong: should be 4, found 5")),
    ("60003734", ("长度为 8 位，应为 9 位", "8 characters long, expected 9")),
    ("m000100Y4", ("第 1 位为小写字母「m」，应为数字或大写字母",
                   "character 1 is 'm' (U+006D LATIN SMALL LETTER M), not a digit or a capital letter")),
    ("60003734 ", ("第 9 位为空白字符(U+0020)，应为数字或大写字母",
                   "character 9 is ' ' (U+0020 SPACE), not a digit or a capital letter")),
    ("600037341", None),
])
def test_diagnose_organisation_code(code, cause):
    assert credit_code.diagnose_org_code(code) == cause


def test_diagnoses_agree_with_the_checks():
    rng = random.Random(32101)
    chars = REF_ALPHABET + "IOSVZaz- ９"
    codes = ["".join(rng.choice(chars) for _ in range(rng.choice([0, 9, 17, 18, 18, 18, 19]))) for _ in range(3000)]
    for _ in range(1000):
        body = "".join(rng.choice(REF_ALPHABET) for _ in range(17))
        codes.append(body + ref_check(body))
    for code in codes:
        assert (credit_code.diagnose(code) is None) == credit_code.is_valid(code), code
        assert (credit_code.diagnose_org_code(code[:9]) is None) == credit_code.is_valid_org_code(code[:9]), code
