"""The e-licence simulator: deterministic records, valid identifiers except the injected defects,
and a manifest whose holder counts and defect list match the records."""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from baselib.identifiers import certificate_id, citizen_id, credit_code, divisions
from baselib_simulators import certificates
from baselib_simulators.certificates import DEFECTS, FIELDS, generate, make_credit_code

UTC = dt.timezone.utc
AS_OF = dt.datetime(2026, 11, 1, tzinfo=UTC)
RATES = {kind: 0.01 for kind in DEFECTS}   # higher than the default so every defect shows up


def _citizen_ids(n: int) -> list[str]:
    rng = random.Random(1)
    out = []
    for _ in range(n):
        birth = f"{rng.randint(1950, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        body = f"360102{birth}{rng.randrange(1000):03d}"
        out.append(body + citizen_id.check_character(body))
    return out


def _credit_codes(n: int) -> list[str]:
    rng = random.Random(2)
    return [make_credit_code("9", "1", "360102", f"{rng.randrange(10**8):08d}") for _ in range(n)]


CITIZENS, ORGS = _citizen_ids(300), _credit_codes(200)


@pytest.fixture(scope="module")
def generated():
    return generate(4000, seed=7, as_of=AS_OF, citizen_ids=CITIZENS, credit_codes=ORGS, unmatched_rate=0.1,
                    defect_rates=RATES)


def test_same_seed_same_records_and_other_seed_differs():
    a, ma = generate(300, seed=3, as_of=AS_OF, citizen_ids=CITIZENS, credit_codes=ORGS)
    b, mb = generate(300, seed=3, as_of=AS_OF, citizen_ids=CITIZENS, credit_codes=ORGS)
    c, _ = generate(300, seed=4, as_of=AS_OF, citizen_ids=CITIZENS, credit_codes=ORGS)
    assert a == b and ma.to_dict() == mb.to_dict()
    assert a != c


def test_records_have_exactly_the_fields_and_are_json(generated):
    records, _ = generated
    assert all(tuple(r) == FIELDS for r in records)
    json.dumps(records, ensure_ascii=False)
    assert len({r["cert_identifier"] for r in records}) == len(records)


def test_every_identifier_and_code_is_valid_except_injected_defects(generated):
    records, manifest = generated
    defect_of = dict(manifest.defects)
    assert set(defect_of.values()) == set(DEFECTS)
    counties = set(divisions.load().current_codes)
    for r in records:
        found = set()
        if not certificate_id.is_valid(r["cert_identifier"]):
            found.add("bad_identifier_check")
        holder_ok = (citizen_id.is_valid(r["holder_code"]) if r["holder_code_type"] == "111"
                     else credit_code.is_valid(r["holder_code"]))
        if not holder_ok:
            found.add("bad_holder_code")
        if not credit_code.is_valid(r["issuer_code"]):
            found.add("bad_issuer_code")
        if r["valid_to"] is not None and r["valid_to"] < r["valid_from"]:
            found.add("valid_to_before_valid_from")
        if len(r["cert_type_code"]) != 21 or not r["cert_type_code"][18:].isdigit() \
                or not credit_code.is_valid(r["cert_type_code"][:18]):
            found.add("bad_type_code")
        expected = {defect_of[r["cert_identifier"]]} if r["cert_identifier"] in defect_of else set()
        assert found == expected, r
        # Structure that holds for every record, defective or not.
        parts = certificate_id.parts(r["cert_identifier"])
        assert parts is not None and parts[0] == r["cert_type_code"] and parts[1] == r["issuer_code"]
        assert r["holder_code_type"] in ("111", "001") and r["status"] in certificates.STATUSES
        assert r["jurisdiction_code"] in counties
        assert r["long_term"] is (r["valid_to"] is None)
        assert r["issue_date"] <= r["updated_at"][:10]
        assert r["updated_at"].endswith("Z") and certificates.parse_timestamp(r["updated_at"]) < AS_OF


def test_defect_rates_are_roughly_as_asked(generated):
    _, manifest = generated
    for kind in DEFECTS:
        assert 15 <= manifest.defect_counts[kind] <= 70, (kind, manifest.defect_counts)
    none, m = generate(500, seed=1, as_of=AS_OF, citizen_ids=CITIZENS, credit_codes=ORGS, defect_rates={})
    assert m.defects == [] and all(certificate_id.is_valid(r["cert_identifier"]) for r in none)


def test_manifest_holder_counts_match_the_records(generated):
    records, manifest = generated
    defective = {i for i, _ in manifest.defects}
    known = {"111": set(CITIZENS), "001": set(ORGS)}
    counts = {"person": {"matched": 0, "unmatched": 0, "invalid": 0},
              "organisation": {"matched": 0, "unmatched": 0, "invalid": 0}}
    clean = json.loads(json.dumps(counts))
    for r in records:
        kind = "person" if r["holder_code_type"] == "111" else "organisation"
        valid = citizen_id.is_valid(r["holder_code"]) if kind == "person" else credit_code.is_valid(r["holder_code"])
        outcome = "invalid" if not valid else ("matched" if r["holder_code"] in known[r["holder_code_type"]]
                                                else "unmatched")
        counts[kind][outcome] += 1
        if r["cert_identifier"] not in defective:
            clean[kind][outcome] += 1
    assert manifest.holders == counts
    assert manifest.clean_holders == clean
    for kind in ("person", "organisation"):
        total = sum(counts[kind].values())
        assert total > 500
        # round(rate × holders of that kind) are unmatched on purpose; a bad_holder_code may hit one of them
        expected = round(0.1 * total)
        assert expected - counts[kind]["invalid"] <= counts[kind]["unmatched"] <= expected
        rate = manifest.match_rate(kind)
        assert rate == clean[kind]["matched"] / (clean[kind]["matched"] + clean[kind]["unmatched"])


def test_unmatched_holders_are_valid_codes_in_neither_list(generated):
    records, manifest = generated
    people, orgs = manifest.unmatched_holder_codes["person"], manifest.unmatched_holder_codes["organisation"]
    assert people and orgs
    assert all(citizen_id.is_valid(c) and c not in CITIZENS for c in people)
    assert all(credit_code.is_valid(c) and c not in ORGS for c in orgs)
    assert len(set(people)) == len(people) and len(set(orgs)) == len(orgs)
    held = {r["holder_code"] for r in records}
    assert set(people) <= held and set(orgs) <= held


def test_person_and_organisation_certificate_kinds(generated):
    records, _ = generated
    kinds = {}
    for r in records:
        kinds.setdefault(r["cert_type_name"], set()).add(r["holder_code_type"])
    assert kinds["机动车驾驶证"] == kinds["教师资格证书"] == kinds["医师执业证书"] == {"111"}
    assert kinds["营业执照"] == kinds["食品经营许可证"] == kinds["道路运输经营许可证"] == {"001"}
    assert len(kinds) == len(certificates.CERT_TYPES)


def test_some_certificates_expire_around_as_of(generated):
    records, manifest = generated
    assert len(manifest.expiring) >= 10
    by_id = {r["cert_identifier"]: r for r in records}
    days = [(dt.date.fromisoformat(by_id[i]["valid_to"]) - AS_OF.date()).days for i in manifest.expiring]
    assert all(abs(d) <= certificates.EXPIRY_WINDOW_DAYS for d in days)
    assert any(d < 0 for d in days) and any(d >= 0 for d in days)
    # The provider's status can be stale: some already past valid_to still say 有效; derive validity.
    assert any(by_id[i]["status"] == "有效" and d < 0 for i, d in zip(manifest.expiring, days))


def test_empty_holder_lists_make_every_holder_unmatched():
    records, manifest = generate(200, seed=5, as_of=AS_OF, citizen_ids=[], credit_codes=[], defect_rates={})
    assert manifest.holders["person"]["matched"] == manifest.holders["organisation"]["matched"] == 0
    assert sum(manifest.holders["person"].values()) + sum(manifest.holders["organisation"].values()) == 200


def test_unknown_defect_name_is_refused():
    with pytest.raises(ValueError, match="unknown defects"):
        generate(10, seed=1, as_of=AS_OF, citizen_ids=CITIZENS, credit_codes=ORGS, defect_rates={"typo": 0.1})


def test_endless_empty_pages_hit_every_page_from_theirs_and_are_never_used_up():
    faults = certificates.Faults().endless_empty_pages(from_page=3).empty_pages(page_number=1, times=2)
    kinds = ("empty_pages", "endless_empty_pages")
    assert faults.take(2, kinds) is None
    assert [faults.take(page, kinds).kind for page in (3, 4, 500)] == ["endless_empty_pages"] * 3
    assert [faults.take(1, kinds).kind for _ in range(2)] == ["empty_pages"] * 2
    assert faults.take(1, kinds) is None                       # the one-page fault is used up
    assert faults.pending == [("endless_empty_pages", 1)]     # the endless one never is
    assert faults.served == {"endless_empty_pages": 3, "empty_pages": 2}
