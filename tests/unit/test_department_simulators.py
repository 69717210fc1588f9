"""The department simulators without a database: determinism, planted defects and unknown
references at the rates asked, consistency with the base simulators' people and registrants,
and the pensions-after-death truth."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from baselib.identifiers import citizen_id, credit_code
from baselib_simulators import departments, dishonest_debtors, legal_entity, penalties, population, social_insurance
from baselib_simulators import tax_ratings
from baselib_simulators.departments import add_months, death_month

AS_OF = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def people() -> list[departments.Person]:
    table, manifest = population.generate(4000, 3, AS_OF)
    bad = {number for number, _ in manifest}
    return [departments.Person(r["id_number"], r["name"], r["birth_date"], r["registration_status"], r["updated_at"])
            for r in table.to_pylist() if r["id_number"] not in bad]


@pytest.fixture(scope="module")
def registrants() -> list[departments.Registrant]:
    table, defects, _ = legal_entity.generate(4000, 3, AS_OF)
    bad = {code for code, _ in defects}
    return [departments.Registrant(r["credit_code"], r["entity_name"], r["division_code"], r["established_on"])
            for r in table.to_pylist() if r["credit_code"] not in bad]


def test_penalties_are_seeded_and_reference_registrants_or_planted_unknowns(registrants):
    rows, truth = penalties.generate(registrants, 1, AS_OF)
    assert (rows, truth) == penalties.generate(registrants, 1, AS_OF)
    assert rows != penalties.generate(registrants, 2, AS_OF)[0]
    known = {r.credit_code for r in registrants}
    assert len({r["decision_number"] for r in rows}) == len(rows)
    assert 0.15 < len(rows) / len(registrants) < 0.5                       # a few per ten registrants
    clean = [(r, t) for r, t in zip(rows, truth) if t["defect"] is None]
    for row, t in clean:
        assert credit_code.is_valid(row["party_credit_code"]) and credit_code.is_valid(row["authority_code"])
        assert (row["party_credit_code"] in known) == t["party_in_base"]
        assert AS_OF.date() - dt.timedelta(days=5 * 366) <= row["decision_date"] < AS_OF.date()
        assert (row["penalty_amount"] is not None) == (row["penalty_type"] in penalties.WITH_AMOUNT)
    unknown = sum(not t["party_in_base"] for t in truth)
    assert unknown == pytest.approx(0.03 * len(rows), rel=0.2)
    decided = [r["decision_date"] for r, _ in clean]
    assert any(d < AS_OF.date().replace(year=2023) for d in decided) and any(d > AS_OF.date().replace(year=2024) for d in decided)


def test_penalty_defects_at_their_rates(registrants):
    rows, truth = penalties.generate(registrants, 4, AS_OF, rates={k: 0.03 for k in penalties.DEFECTS})
    counts = Counter(t["defect"] for t in truth if t["defect"])
    assert set(counts) == set(penalties.DEFECTS)
    for kind in penalties.DEFECTS:
        assert counts[kind] == pytest.approx(0.03 * len(rows), rel=0.5)
    for row, t in zip(rows, truth):
        if t["defect"] == "bad_party_code":
            assert not credit_code.is_valid(row["party_credit_code"])
        elif t["defect"] == "negative_amount":
            assert float(row["penalty_amount"]) < 0
        elif t["defect"] == "future_decision_date":
            assert row["decision_date"] > AS_OF.date()


def test_debtors_list_companies_and_adult_citizens_consistently(registrants, people):
    manifest = dishonest_debtors.generate(registrants, people, 1, AS_OF, company_share=0.1, citizen_share=0.1)
    assert manifest.records == dishonest_debtors.generate(registrants, people, 1, AS_OF, company_share=0.1,
                                                          citizen_share=0.1).records
    codes = {r.credit_code for r in registrants}
    ids = {p.id_number: p for p in people}
    kinds = Counter(r["party_code_type"] for r in manifest.loadable())
    assert kinds["001"] > 0 and kinds["111"] > 0
    for r in manifest.loadable():
        known = r["party_code"] in (codes if r["party_code_type"] == "001" else ids)
        assert known == (r["case_number"] not in manifest.unmatched)
        valid = credit_code.is_valid if r["party_code_type"] == "001" else citizen_id.is_valid
        assert valid(r["party_code"])
        assert (r["status"] == "已移出") == (r["removed_date"] is not None)
        assert r["filing_date"] <= r["publish_date"] <= (r["removed_date"] or r["publish_date"]) <= AS_OF.date().isoformat()
        if r["party_code_type"] == "111" and known:
            assert ids[r["party_code"]].registration_status != "死亡" and r["party_name"] == ids[r["party_code"]].name
    assert {"在列", "已移出"} == {r["status"] for r in manifest.loadable()}
    assert 0 < manifest.match_rate("111") < 1 and 0 < manifest.match_rate("001") < 1


def test_tax_ratings_two_years_of_enterprises(tmp_path, registrants):
    drop = tax_ratings.write_drop(tmp_path, registrants, seed=1, as_of=AS_OF)
    again = tax_ratings.write_drop(tmp_path / "again", registrants, seed=1, as_of=AS_OF)
    assert [p.read_bytes() for p in drop.files] == [p.read_bytes() for p in again.files]   # reproducible bytes
    assert sorted({r["rating_year"] for r in drop.rows}) == [2024, 2025]
    enterprises = {r.credit_code for r in registrants if r.credit_code[0] == "9"}
    rated = {r["credit_code"] for r in drop.loadable() if (r["credit_code"], r["rating_year"]) not in drop.unmatched}
    assert rated <= enterprises and len(rated) > 0.6 * len(enterprises)
    assert set(Counter(r["rating"] for r in drop.loadable())) == set("ABMCD")
    assert all(r["evaluated_on"] == dt.date(r["rating_year"] + 1, 4, r["evaluated_on"].day) for r in drop.loadable())
    assert 0.9 < drop.match_rate() < 1


def test_social_insurance_pensions_after_death(people):
    out = social_insurance.generate(people, 1, AS_OF, enrolled_share=0.6)
    assert out == social_insurance.generate(people, 1, AS_OF, enrolled_share=0.6)
    by_id = {p.id_number: p for p in people}
    last_month = dt.date(2026, 10, 1)
    payments: dict[str, list[dt.date]] = {}
    for row, truth in zip(out["payments"], out["payment_truth"]):
        payments.setdefault(truth["citizen_id"] if truth["defect"] != "bad_citizen_id" else "?", []).append(row["pay_month"])
        assert add_months(last_month, -23) <= row["pay_month"] <= last_month and row["pay_month"].day == 1
    after = {(r["citizen_id"], r["pay_month"]) for r in out["after_death"]}
    assert after and len(after) == len(out["after_death"])
    defective = {(t["citizen_id"], t["pay_month"]) for t in out["payment_truth"] if t["defect"]}
    assert not after & defective                                            # every after-death row loads
    deceased_paid = {p: months for p, months in payments.items() if p in by_id and by_id[p].registration_status == "死亡"}
    for person_id, months in deceased_paid.items():
        died = death_month(by_id[person_id].updated_at)
        late = {(person_id, m) for m in months if m > died}
        assert late == {k for k in after if k[0] == person_id}
    stopped = [p for p, months in deceased_paid.items() if max(months) <= death_month(by_id[p].updated_at)]
    assert stopped and len(deceased_paid) > len(stopped)                     # most stop, some go on
    for person_id in payments.keys() - {"?"}:
        if person_id in by_id:
            born = by_id[person_id].birth_date
            assert min(payments[person_id]) > born.replace(day=1, year=born.year + 60)
    kinds = Counter(r["insurance_type"] for r, t in zip(out["enrolments"], out["enrolment_truth"]) if not t["defect"])
    assert set(kinds) == set(social_insurance.INSURANCE_TYPES)
    unknown = {t["citizen_id"] for t in out["enrolment_truth"] if not t["in_population"] and not t["defect"]}
    assert unknown and not unknown & by_id.keys()
    assert all(citizen_id.is_valid(c) for c in unknown)
