"""GB/T 36904 certificate identifiers: MOD 37,36 check over the four middle parts."""
import pytest

from baselib.identifiers import certificate_id

REAL = [
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
]


@pytest.mark.parametrize("identifier", REAL)
def test_real_identifiers_verify(identifier):
    assert certificate_id.is_valid(identifier)


@pytest.mark.parametrize("identifier", REAL)
def test_any_other_check_character_fails(identifier):
    right = identifier[-1]
    for wrong in certificate_id.ALPHABET.replace(right, ""):
        assert not certificate_id.is_valid(identifier[:-1] + wrong)


@pytest.mark.parametrize("identifier", REAL)
def test_a_changed_body_character_is_detected(identifier):
    type_code, issuer, serial, version, check = certificate_id.parts(identifier)
    altered_serial = ("1" if serial[0] != "1" else "2") + serial[1:]
    altered = f"{certificate_id.PREFIX}{type_code}.{issuer}.{altered_serial}.{version}.{check}"
    assert not certificate_id.is_valid(altered)


@pytest.mark.parametrize("bad", [
    None, "", "1.2.156.3005.2.X.Y.Z.001",                              # no check part
    REAL[0].replace("1.2.156.3005.2.", "1.2.156.3005.3."),              # wrong prefix
    REAL[0].replace(".001.", ".01."),                                   # version not 3 digits
    REAL[0].lower(),                                                    # lowercase
])
def test_malformed_identifiers_are_rejected(bad):
    assert not certificate_id.is_valid(bad)


def test_check_character_rejects_characters_outside_the_alphabet():
    with pytest.raises(ValueError):
        certificate_id.check_character("ABC-1")


def test_vectorised_check_agrees_with_the_scalar_one():
    import random

    rng = random.Random(7)
    samples = list(REAL) + [None, "", "1.2.156.3005.2.A.B.C.001.Z", REAL[0].lower()]
    for _ in range(500):
        type_code, issuer, serial, version, check = certificate_id.parts(rng.choice(REAL))
        serial = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 14)))
        body = type_code + issuer + serial + version
        right = certificate_id.check_character(body)
        chosen = right if rng.random() < 0.5 else rng.choice(certificate_id.ALPHABET)
        samples.append(f"{certificate_id.PREFIX}{type_code}.{issuer}.{serial}.{version}.{chosen}")
    expected = [certificate_id.is_valid(s) for s in samples]
    assert certificate_id.valid_mask(samples).tolist() == expected
    assert any(expected) and not all(expected)


# --- diagnosis: one cause per invalid identifier ----------------------------------------------
@pytest.mark.parametrize("identifier, cause", [
    (REAL[0][:-1] + "0", ("校验码错误：应为 U，实为 0", "check character is wrong: should be U, found 0")),
    (REAL[0].replace(".001.", ".01."), ("版本号「01」应为 3 位数字", "the version '01' must be 3 digits")),
    (REAL[0].replace("1.2.156.3005.2.", "1.2.156.3005.3."),
     ("不以 1.2.156.3005.2. 开头", "does not start with 1.2.156.3005.2.")),
    ("1.2.156.3005.2.X.Y.Z.001", ("前缀后应为 类型代码.颁发机构代码.序列号.版本号.校验位 5 段，实为 4 段",
                                  "expected 5 parts after the prefix (type code.issuer code.serial.version.check), found 4")),
    ("1.2.156.3005.2.X..Z.001.A", ("颁发机构代码为空", "the issuer code is empty")),
    (REAL[0][:-1] + "UU", ("校验位「UU」应为 1 个字符", "the check part 'UU' must be one character")),
    (REAL[0][:-1] + "u", ("第 73 位为小写字母「u」，应为数字、大写字母或“.”",
                          "character 73 is 'u' (U+0075 LATIN SMALL LETTER U), not a digit, a capital letter or '.'")),
    (REAL[0] + "\n", ("第 74 位为空白字符(U+000A)，应为数字、大写字母或“.”",
                      "character 74 is U+000A, a control or unassigned character, not a digit, a capital letter or '.'")),
    (REAL[0], None),
    (REAL[1], None),
])
def test_diagnose_names_the_one_real_cause(identifier, cause):
    assert certificate_id.diagnose(identifier) == cause


@pytest.mark.parametrize("bad", [
    REAL[0] + "\n",                          # `$` matched before a trailing newline
    REAL[0].replace(".001.", ".００１."),      # `\d` matched full-width digits, then the check raised
])
def test_trailing_newline_and_fullwidth_version_are_invalid_not_raised(bad):
    assert certificate_id.is_valid(bad) is False
    assert certificate_id.valid_mask([bad]).tolist() == [False]


def test_diagnose_agrees_with_is_valid():
    import random

    rng = random.Random(36904)
    samples = list(REAL)
    for _ in range(2000):
        text = rng.choice(REAL)
        i = rng.randrange(len(text))
        samples.append(text[:i] + rng.choice("0123456789ABUZ.a ") + text[i + 1:])
        samples.append(text[:i] + text[i + 1:])
    for sample in samples:
        assert (certificate_id.diagnose(sample) is None) == certificate_id.is_valid(sample), sample
