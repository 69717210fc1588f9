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
