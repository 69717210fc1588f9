"""The three theme libraries against the simulators' known truth (real PostgreSQL, the court API as
a real loopback server, the tax ratings as a real Excel file drop).

Base and department sources are simulated small, loaded through ``pipeline.run``, then the themes
are built through ``pipeline.run``. Every expected figure is computed here, in Python, from the
simulators' truth readers (the rows that load), never from the warehouse: penalty counts and
amounts in the 3-year window, the dishonest list, the latest tax rating, valid certificates, the
credit grade by an independent evaluation of the catalog's rules, the insured people's summaries
and flags, and the pension-after-death list (= ``simulator.pension_after_death``).
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from baselib.themes import model as theme_model
from baselib.warehouse import connections, provision
from baselib_simulators import (certificates, departments, dishonest_debtors, legal_entity, penalties, population,
                                social_insurance, tax_ratings)
from baselib_simulators.population import SOURCE_TABLE as POPULATION_SOURCE
from tests.conftest import AS_OF, DAY1, DAY2, UTC
from tests.integration.pipeline_helpers import assert_accounted, catalog_entry, run, run_info

SHANGHAI = ZoneInfo("Asia/Shanghai")
CREDIT = "theme_credit.enterprise_credit_profile"
INSURED = "theme_social_security.insured_person"
AFTER_DEATH = "theme_social_security.pension_after_death"
INPUTS = ("base_population.person", "base_legal_entity.legal_entity", "base_e_certificate.certificate",
          "dept_market_regulation.administrative_penalty", "dept_court.dishonest_debtor", "dept_tax.tax_credit_rating",
          "dept_human_resources.insurance_enrolment", "dept_human_resources.pension_payment")
SOCIAL = ("base_population.person", "dept_human_resources.insurance_enrolment", "dept_human_resources.pension_payment")
PENSION_TYPES = ("110", "120", "170")
SEED = 31


def add_years(day: dt.date, years: int) -> dt.date:
    """``day + interval 'n years'`` as PostgreSQL computes it (29 February -> 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def day_interval(day: dt.date):
    """The daily interval whose as-of date (its end in Asia/Shanghai) is ``day``."""
    end = dt.datetime.combine(day, dt.time(0), SHANGHAI).astimezone(UTC)
    return end - dt.timedelta(days=1), end


def as_of_date(interval) -> dt.date:
    """The date a theme run of ``interval`` is computed for (its end, in Asia/Shanghai)."""
    return interval[1].astimezone(SHANGHAI).date()


# ------------------------------------------------------------------------------------------------
# The world: base and department sources, simulated, and their truth
# ------------------------------------------------------------------------------------------------

class World:
    """The simulated sources of one test, and handles on their truth."""

    def __init__(self, dbs, landing, monkeypatch):
        self.dbs = dbs
        conn = dbs.source("dept_public_security")
        population.create(conn, rows=2500, seed=SEED, as_of=AS_OF)
        self.people = departments.people(conn)
        citizen_ids = population.clean_ids(conn, limit=600)
        conn.close()
        conn = dbs.source("dept_market_regulation")
        legal_entity.create(conn, rows=2500, seed=SEED, as_of=AS_OF)
        self.registrants = departments.registrants(conn)
        credit_codes = legal_entity.clean_credit_codes(conn, limit=1500)
        penalties.create(conn, self.registrants, seed=SEED, as_of=AS_OF)
        conn.close()
        conn = dbs.source("dept_human_resources")
        self.social = social_insurance.create(conn, self.people, seed=SEED, as_of=AS_OF)
        conn.close()
        self.tax = tax_ratings.write_drop(landing, self.registrants, seed=SEED, as_of=AS_OF)
        self.cert_records, self.cert_manifest = certificates.generate(
            1500, SEED, AS_OF, citizen_ids, credit_codes, unmatched_rate=0.05)
        self.debtors = dishonest_debtors.generate(self.registrants, self.people, SEED, AS_OF)
        self.cert_server = certificates.CertificateApiServer(self.cert_records, token=secrets.token_urlsafe(16)).start()
        monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", self.cert_server.connection_uri())
        self.court = dishonest_debtors.server(self.debtors.records, token=secrets.token_urlsafe(16)).start()
        monkeypatch.setenv("AIRFLOW_CONN_COURT_API", self.court.connection_uri())
        self.status: dict[str, str] = {}  # credit code -> registration status of the live registrants (set by a test)

    def stop(self):
        self.cert_server.stop()
        self.court.stop()

    def source_rows(self, conn_id, reader):
        conn = self.dbs.source(conn_id)
        try:
            return reader(conn)
        finally:
            conn.close()

    def penalty_rows(self):
        return self.source_rows("dept_market_regulation", penalties.loadable_rows)

    def loadable_certificates(self):
        bad = {identifier for identifier, _ in self.cert_manifest.defects}
        return [r for r in self.cert_records if r["cert_identifier"] not in bad]


@pytest.fixture
def world(dbs, landing, monkeypatch):
    if "dept_human_resources" not in dbs.names:  # the human-resources front-end database, per test
        name = dbs.names["warehouse"].replace("_wh_", "_human_resources_")
        provision.drop_database(dbs.server, name)
        dbs.names["dept_human_resources"] = name
        dbs.uris["dept_human_resources"] = provision.ensure_database(dbs.server, name)
        monkeypatch.setenv("AIRFLOW_CONN_DEPT_HUMAN_RESOURCES", dbs.uris["dept_human_resources"])
    w = World(dbs, landing, monkeypatch)
    yield w
    w.stop()


def load_inputs(interval=DAY1, only=INPUTS, modes=None) -> dict[str, dict]:
    summaries = {}
    for target in only:
        summaries[target] = run(catalog_entry(target), interval, (modes or {}).get(target, "auto"))
        assert summaries[target]["status"] == "success", (target, summaries[target])
    return summaries


# ------------------------------------------------------------------------------------------------
# Expected figures, from the truth (independent of the warehouse and of the models)
# ------------------------------------------------------------------------------------------------

def expected_credit(world: World, day: dt.date, codes: set[str], penalty_rows=None, certificate_rows=None) -> dict:
    """credit_code -> the theme's figures as of ``day``, for ``codes``."""
    count, amount = defaultdict(int), defaultdict(Decimal)
    for p in world.penalty_rows() if penalty_rows is None else penalty_rows:
        # the window as the entry's ages put it: entered on decision_date, left on decision_date + 3 years
        if p["decision_date"] <= day < add_years(p["decision_date"], 3):
            count[p["party_credit_code"]] += 1
            amount[p["party_credit_code"]] += p["penalty_amount"] or Decimal(0)
    listed = defaultdict(int)
    for d in world.debtors.loadable():
        if d["party_code_type"] == "001" and d["status"] == "在列":
            listed[d["party_code"]] += 1
    latest = world.tax.latest()
    valid = defaultdict(int)
    for c in world.loadable_certificates() if certificate_rows is None else certificate_rows:
        if c["holder_code_type"] == "001" and c["status"] == "有效" and dt.date.fromisoformat(c["valid_from"]) <= day \
                and (c["long_term"] or dt.date.fromisoformat(c["valid_to"]) >= day):
            valid[c["holder_code"]] += 1
    source = catalog_entry(CREDIT).pipeline.source
    out = {}
    for code in codes:
        year, rating = latest.get(code, (None, None))
        row = {"penalty_count_3y": count[code], "penalty_amount_3y": amount[code].quantize(Decimal("0.01")),
               "on_dishonest_list": listed[code] > 0, "dishonest_case_count": listed[code],
               "tax_rating": rating, "tax_rating_year": year, "valid_certificate_count": valid[code]}
        row["credit_grade"], row["credit_grade_rule"] = grade(row, world.status[code], source.parameters)
        out[code] = row
    return out


def grade(row: dict, status: str, parameters: dict) -> tuple[str, str]:
    """The documented rule semantics, evaluated in Python: the first rule whose every condition
    holds; else the default grade."""
    bounds = {"penalty_count": row["penalty_count_3y"], "penalty_amount": row["penalty_amount_3y"],
              "valid_certificates": row["valid_certificate_count"]}
    for rule in parameters["grade_rules"]:
        ok = all([
            "on_dishonest_list" not in rule or rule["on_dishonest_list"] == row["on_dishonest_list"],
            "status_in" not in rule or status in rule["status_in"],
            "tax_rating_in" not in rule or row["tax_rating"] in rule["tax_rating_in"],
            *(f"min_{name}" not in rule or value >= rule[f"min_{name}"] for name, value in bounds.items()),
            *(f"max_{name}" not in rule or value <= rule[f"max_{name}"] for name, value in bounds.items()),
        ])
        if ok:
            return rule["grade"], rule["name"]
    return parameters["default_grade"], "默认"


def expected_social(world: World) -> tuple[dict, set]:
    """(citizen_id -> the insured-person figures, {(citizen_id, pay_month)} paid after death)."""
    enrolments = world.source_rows("dept_human_resources", social_insurance.loadable_enrolments)
    payments = world.source_rows("dept_human_resources", social_insurance.loadable_payments)
    people = {p.id_number: p for p in world.people}
    by_person, paid = defaultdict(list), defaultdict(list)
    for e in enrolments:
        by_person[e["citizen_id"]].append(e)
    for p in payments:
        paid[p["citizen_id"]].append(p)
    after_death = set()
    out = {}
    # one row per citizen with an enrolment OR a payment (a payment without any enrolment is a row)
    for pid in sorted(set(by_person) | set(paid)):
        rows = by_person.get(pid, [])
        person = people.get(pid)
        assert not rows or (person is not None) == all(r["in_population"] for r in rows)
        pension = [r for r in rows if r["insurance_type"] in PENSION_TYPES]

        def summary(rs, order, fallback):
            return next((s for s in order if any(r["status"] == s for r in rs)), fallback) if rs else None

        died = departments.death_month(person.updated_at) if person and person.registration_status == "死亡" else None
        months = [p["pay_month"] for p in paid[pid]]
        late = [m for m in months if died and m > died]
        out[pid] = {
            "name": max(rows, key=lambda r: (r["updated_at"], r["insurance_type"]))["name"] if rows else None,
            "enrolment_status": summary(rows, ("参保缴费", "暂停缴费"), "终止参保"),
            "insurance_types": ",".join(sorted(r["insurance_type"] for r in rows if r["status"] != "终止参保")) or None,
            "pension_enrolment_status": summary(pension, ("参保缴费", "暂停缴费"), "终止参保"),
            "pension_status": (next((s for s in ("领取中", "已停发") if any(r["pension_status"] == s for r in pension)),
                                    "未领取") if pension else None),
            "months_paid": len(months), "last_pay_month": max(months, default=None),
            "registration_status": person.registration_status if person else None,
            "death_registered_at": person.updated_at if died else None,
            "months_paid_after_death": len(late),
        }
        out[pid].update(
            not_in_population=person is None, paid_after_death=bool(late),
            receiving_while_deceased=bool(died) and out[pid]["pension_status"] == "领取中",
            paid_without_pension_enrolment=bool(months) and not pension,
            name_mismatch=person is not None and rows != [] and person.name != out[pid]["name"])
    for pid, rows in paid.items():
        person = people.get(pid)
        if person and person.registration_status == "死亡":
            died = departments.death_month(person.updated_at)
            after_death |= {(pid, r["pay_month"]) for r in rows if r["pay_month"] > died}
    return out, after_death


def theme_rows(dbs, target: str, key: str = "credit_code") -> dict:
    conn = connections.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {target}_current")  # target: a catalog name, not input
            names = [d[0] for d in cur.description]
            return {row[names.index(key)]: dict(zip(names, row)) for row in cur.fetchall()}
    finally:
        conn.close()


def model_rows(target: str, interval) -> set[tuple]:
    """The theme's model evaluated unrestricted (a full rebuild's rows) as of ``interval``'s end."""
    resource = catalog_entry(target)
    conn = connections.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(resource.column_names)} FROM ({theme_model.model_text(resource)}) m",
                        theme_model.parameters(resource, interval[1]))
            return set(cur.fetchall())
    finally:
        conn.rollback()
        conn.close()


def current_rows(target: str) -> set[tuple]:
    resource = catalog_entry(target)
    conn = connections.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(resource.column_names)} FROM {target}_current")
            return set(cur.fetchall())
    finally:
        conn.close()


def pipeline_run(resource, interval) -> dict:
    """A run of a catalog entry changed in the test (not the one on disk)."""
    from baselib import pipeline

    return pipeline.run(resource, run_info(resource, interval))


def pick(fields: dict, names) -> dict:
    return {n: fields[n] for n in names}


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------

def test_theme_figures_equal_the_simulators_truth(dbs, world):
    load_inputs()
    summaries = {t: run(catalog_entry(t), DAY1) for t in (CREDIT, INSURED, AFTER_DEATH)}
    for target, summary in summaries.items():
        assert_accounted(summary)
        assert summary["mode"] == "full" and summary["rows_quarantined"] == 0, (target, summary)

    # credit: one row per live registrant of the legal-entity library, figures as the truth says
    live = {code: status for code, status in dbs.query(
        "SELECT credit_code, status FROM base_legal_entity.legal_entity_current")}
    world.status = live  # the loaded registrants (the legal-entity pipeline is tested elsewhere)
    got = theme_rows(dbs, CREDIT)
    assert set(got) == set(live) and len(got) == summaries[CREDIT]["rows_inserted"]
    expected = expected_credit(world, as_of_date(DAY1), set(live))
    figures = list(next(iter(expected.values())))
    mismatched = {c: (pick(got[c], figures), expected[c]) for c in live if pick(got[c], figures) != expected[c]}
    assert not mismatched, list(mismatched.items())[:3]
    # the data exercise every part of the profile (else the comparison above proves little)
    rows = list(expected.values())
    assert sum(r["penalty_count_3y"] > 0 for r in rows) > 50
    window_start = as_of_date(DAY1).replace(year=as_of_date(DAY1).year - 3)
    assert sum(p["decision_date"] <= window_start for p in world.penalty_rows() if p["party_credit_code"] in live) > 10
    assert sum(r["on_dishonest_list"] for r in rows) > 5 and sum(r["tax_rating"] is not None for r in rows) > 500
    assert sum(r["valid_certificate_count"] > 0 for r in rows) > 100
    assert {r["credit_grade"] for r in rows} == {"A", "B", "C", "D"}

    # social security: the insured people, their summaries and flags
    expected_people, after_death = expected_social(world)
    got = theme_rows(dbs, INSURED, "citizen_id")
    assert set(got) == set(expected_people)
    mismatched = {c: (pick(got[c], expected_people[c]), expected_people[c]) for c in got
                  if pick(got[c], expected_people[c]) != expected_people[c]}
    assert not mismatched, list(mismatched.items())[:3]
    people = list(expected_people.values())
    for flag in ("not_in_population", "paid_after_death", "receiving_while_deceased"):
        assert any(p[flag] for p in people), flag
    # the cross check counts the insured not in the population library as a match rate
    checks = dbs.scalar("SELECT cross_checks FROM ops.load_run WHERE load_id = %s", (summaries[INSURED]["load_id"],))
    assert checks["insured_in_population"]["match_rate"] == pytest.approx(
        sum(not p["not_in_population"] for p in people) / len(people), abs=1e-6)
    assert summaries[INSURED]["rows_warned"] >= sum(p["paid_after_death"] for p in people)

    # pension after death: exactly the simulator's injected payments
    truth = world.source_rows("dept_human_resources", social_insurance.pension_after_death)
    got = {(r[0], r[1]) for r in dbs.query(f"SELECT citizen_id, pay_month FROM {AFTER_DEATH}_current")}
    assert got == truth == after_death
    # the list names people as the human-resources department's own enrolments do, never with the
    # population library's name (personal data of another department)
    names = dict(dbs.query(f"SELECT citizen_id, name FROM {AFTER_DEATH}_current"))
    assert names == {pid: expected_people[pid]["name"] for pid in names}
    # people paid without any enrolment are rows of the insured-person theme, and flagged
    assert any(p["enrolment_status"] is None and p["paid_without_pension_enrolment"] for p in people)
    assert len(got) == world.social.pension_after_death > 0
    assert dbs.scalar(f"SELECT count(DISTINCT citizen_id) FROM {AFTER_DEATH}_current") == \
        world.social.people_paid_after_death
    amounts = dict(((r[0], r[1]), r[2]) for r in dbs.query(
        "SELECT citizen_id, pay_month, amount FROM simulator.pension_after_death", db="dept_human_resources"))
    assert {(r[0], r[1]): r[2] for r in dbs.query(
        f"SELECT citizen_id, pay_month, amount FROM {AFTER_DEATH}_current")} == amounts

    # the themes equal their models evaluated unrestricted (what a rebuild would produce)
    for target in (CREDIT, INSURED, AFTER_DEATH):
        assert current_rows(target) == model_rows(target, DAY1), target


def with_grade_rules(resource, **parameters):
    source = resource.pipeline.source.model_copy(update={"parameters": {**resource.pipeline.source.parameters,
                                                                        **parameters}})
    return resource.model_copy(update={"pipeline": resource.pipeline.model_copy(update={"source": source})})


def test_changed_grade_rules_rebuild_every_key_and_unknown_conditions_fail(dbs, world):
    load_inputs(only=INPUTS[1:6])
    first = run(catalog_entry(CREDIT), DAY1)
    world.status = dict(dbs.query("SELECT credit_code, status FROM base_legal_entity.legal_entity_current"))
    # stricter rules: two penalties already make C, and no A grade at all; nothing else changed
    rules = [r for r in catalog_entry(CREDIT).pipeline.source.parameters["grade_rules"] if r["grade"] != "A"]
    rules = [{**r, "min_penalty_count": 2} if r.get("min_penalty_count") else r for r in rules]
    stricter = with_grade_rules(catalog_entry(CREDIT), grade_rules=rules, default_grade="B")
    summary = pipeline_run(stricter, DAY1)
    assert summary["mode"] != "incremental" and summary["rows_extracted"] == first["rows_extracted"]
    expected = expected_credit(world, as_of_date(DAY1), set(world.status))
    regraded = {}
    for code, row in expected.items():
        new = grade(row, world.status[code], stricter.pipeline.source.parameters)
        if new != (row["credit_grade"], row["credit_grade_rule"]):
            regraded[code] = new
    got = theme_rows(dbs, CREDIT)
    assert regraded and {c for c in got if (got[c]["credit_grade"], got[c]["credit_grade_rule"]) !=
                         (expected[c]["credit_grade"], expected[c]["credit_grade_rule"])} == set(regraded)
    assert all((got[c]["credit_grade"], got[c]["credit_grade_rule"]) == g for c, g in regraded.items())
    assert summary["rows_updated"] == len(regraded) and "A" not in {r["credit_grade"] for r in got.values()}
    # a misspelt condition is never silently ignored: the run fails and names it, nothing changes
    before = current_rows(CREDIT)
    typo = with_grade_rules(catalog_entry(CREDIT), grade_rules=rules + [{"name": "x", "grade": "C", "min_penalties": 1}])
    with pytest.raises(Exception, match="unknown condition min_penalties"):
        pipeline_run(typo, DAY1)
    assert current_rows(CREDIT) == before


def test_an_input_change_refreshes_exactly_the_affected_keys(dbs, world):
    # a penalty that leaves the 3-year window between the two refreshes, without any input change
    day1, day2 = as_of_date(DAY1), as_of_date(DAY2)
    penalised = {p["party_credit_code"] for p in world.penalty_rows()}
    ageing = sorted({r.credit_code for r in world.registrants} - penalised)[-1]
    conn = dbs.source("dept_market_regulation")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO frontend.administrative_penalty (decision_number, party_name, party_credit_code, "
                    "penalty_type, penalty_amount, decision_date, authority_name, authority_code, updated_at) "
                    "SELECT 'TEST-AGEING-1', 'x', %s, '罚款', 800, %s, authority_name, authority_code, updated_at "
                    "FROM frontend.administrative_penalty ORDER BY decision_number LIMIT 1",
                    (ageing, add_years(day2, -3)))
        cur.execute("INSERT INTO simulator.penalty_truth (decision_number, party_credit_code, defect, party_in_base) "
                    "VALUES ('TEST-AGEING-1', %s, NULL, true)", (ageing,))
    conn.commit()
    conn.close()
    load_inputs()
    for target in (CREDIT, INSURED, AFTER_DEATH):
        assert run(catalog_entry(target), DAY1)["status"] == "success"
    world.status = dict(dbs.query("SELECT credit_code, status FROM base_legal_entity.legal_entity_current"))
    live = set(world.status)
    before = expected_credit(world, as_of_date(DAY1), live)
    credit_before = theme_rows(dbs, CREDIT)

    # a day at the departments: penalties changed, moved to another party, added and deleted
    changed_at = dt.datetime(2026, 11, 2, 2, tzinfo=UTC)
    rows = [p for p in world.penalty_rows() if p["party_credit_code"] in live and p["party_credit_code"] != ageing]
    quiet = sorted(live - {p["party_credit_code"] for p in world.penalty_rows()})[:5]
    amended, moved, deleted = rows[0], rows[1], rows[2]
    new_party, moved_to = quiet[0], quiet[1]
    recent = (as_of_date(DAY2) - dt.timedelta(days=10))
    conn = dbs.source("dept_market_regulation")
    with conn.cursor() as cur:
        cur.execute("UPDATE frontend.administrative_penalty SET penalty_type = '罚款', penalty_amount = 12345, "
                    "decision_date = %s, updated_at = %s WHERE decision_number = %s",
                    (recent, changed_at, amended["decision_number"]))
        cur.execute("UPDATE frontend.administrative_penalty SET party_credit_code = %s, decision_date = %s, "
                    "updated_at = %s WHERE decision_number = %s",
                    (moved_to, recent, changed_at, moved["decision_number"]))
        cur.execute("DELETE FROM frontend.administrative_penalty WHERE decision_number = %s",
                    (deleted["decision_number"],))
        cur.execute("INSERT INTO frontend.administrative_penalty (decision_number, party_name, party_credit_code, "
                    "penalty_type, penalty_amount, decision_date, authority_name, authority_code, updated_at) "
                    "SELECT 'TEST-NEW-1', 'x', %s, '罚款', 500000, %s, authority_name, authority_code, %s "
                    "FROM frontend.administrative_penalty WHERE decision_number = %s",
                    (new_party, recent, changed_at, amended["decision_number"]))
        cur.execute("INSERT INTO simulator.penalty_truth (decision_number, party_credit_code, defect, party_in_base) "
                    "VALUES ('TEST-NEW-1', %s, NULL, true)", (new_party,))
    conn.commit()
    conn.close()
    # ... and the population library registers a living pensioner's death
    expected_people, _ = expected_social(world)
    pensioner = next(pid for pid, p in sorted(expected_people.items())
                     if p["pension_status"] == "领取中" and p["registration_status"] == "正常")
    conn = dbs.source("dept_public_security")
    with conn.cursor() as cur:
        cur.execute("UPDATE frontend.population_person SET registration_status = '死亡', updated_at = %s "
                    "WHERE id_number = %s", (changed_at, pensioner))
    conn.commit()
    conn.close()

    load_inputs(DAY2, only=("dept_market_regulation.administrative_penalty", "base_population.person"),
                modes={"dept_market_regulation.administrative_penalty": "reconcile"})
    credit = run(catalog_entry(CREDIT), DAY2)
    insured = run(catalog_entry(INSURED), DAY2)
    after = run(catalog_entry(AFTER_DEATH), DAY2)

    # affected refresh keys: every party whose penalties changed (both ends of the move), plus the
    # keys whose penalties left the 3-year window or certificates expired between the two as-of dates
    touched = {amended["party_credit_code"], moved["party_credit_code"], moved_to, deleted["party_credit_code"],
               new_party}
    aged = {p["party_credit_code"] for p in world.penalty_rows()
            if day1 < add_years(p["decision_date"], 3) <= day2}
    aged |= {c["holder_code"] for c in world.loadable_certificates() if c["holder_code_type"] == "001"
             and not c["long_term"] and day1 < dt.date.fromisoformat(c["valid_to"]) + dt.timedelta(days=1) <= day2}
    affected = (touched | aged) & live
    assert credit["mode"] == "incremental"
    assert credit["rows_extracted"] == len(affected)
    after_change = expected_credit(world, day2, live)
    changed = {c for c in live if after_change[c] != before[c]}
    assert {amended["party_credit_code"], moved_to, new_party, ageing} <= changed <= affected
    assert (before[ageing]["penalty_count_3y"], after_change[ageing]["penalty_count_3y"]) == (1, 0)
    opened = {r[0] for r in dbs.query(f"SELECT credit_code FROM {CREDIT}_history WHERE _load_id = %s",
                                      (credit["load_id"],))}
    assert opened == changed
    assert (credit["rows_updated"], credit["rows_inserted"]) == (len(changed), 0)
    got = theme_rows(dbs, CREDIT)
    assert {c for c in live if got[c] != credit_before[c]} == changed
    assert all(pick(got[c], after_change[c]) == after_change[c] for c in affected)
    assert current_rows(CREDIT) == model_rows(CREDIT, DAY2)

    # social security: only the newly deceased pensioner's row changes; the list gains nothing
    # (the death month is November, the last payment October)
    assert insured["mode"] == "incremental" and insured["rows_extracted"] == 1 and insured["rows_updated"] == 1
    row = theme_rows(dbs, INSURED, "citizen_id")[pensioner]
    assert (row["registration_status"], row["death_registered_at"], row["receiving_while_deceased"]) == \
        ("死亡", changed_at, True)
    assert after["mode"] == "incremental" and after["rows_extracted"] == 0
    assert current_rows(INSURED) == model_rows(INSURED, DAY2)
    assert current_rows(AFTER_DEATH) == model_rows(AFTER_DEATH, DAY2)


def insert_penalty(conn, number: str, party: str, decided: dt.date) -> None:
    """A hand-made penalty of 800 元 at the market-regulation source (and in its truth)."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO frontend.administrative_penalty (decision_number, party_name, party_credit_code, "
                    "penalty_type, penalty_amount, decision_date, authority_name, authority_code, updated_at) "
                    "SELECT %s, 'x', %s, '罚款', 800, %s, authority_name, authority_code, updated_at "
                    "FROM frontend.administrative_penalty ORDER BY decision_number LIMIT 1", (number, party, decided))
        cur.execute("INSERT INTO simulator.penalty_truth (decision_number, party_credit_code, defect, party_in_base) "
                    "VALUES (%s, %s, NULL, true)", (number, party))
    conn.commit()


def test_window_edges_are_declared_ages_and_match_the_engines_instants(dbs, world):
    """Every edge the credit model takes from the as-of date is an age, written exactly as the
    engine's age instant: a penalty decided after a refresh's as-of date (but already loaded)
    counts once as_of passes its decision date, with no input change in between; a 29 February
    decision leaves the window on the day the engine recomputes it (daily refreshes over
    2027-02-27..03-01); a certificate counts from its valid_from."""
    day2 = as_of_date(DAY2)  # the first refresh is as of the day before
    penalised = {p["party_credit_code"] for p in world.penalty_rows()}
    clean = set(world.source_rows("dept_market_regulation", lambda c: legal_entity.clean_credit_codes(c, limit=1500)))
    future_party, leap_party = sorted(clean - penalised)[:2]
    conn = dbs.source("dept_market_regulation")
    insert_penalty(conn, "TEST-FUTURE-1", future_party, day2)
    insert_penalty(conn, "TEST-LEAP-1", leap_party, dt.date(2024, 2, 29))
    conn.close()
    # a long-term certificate that comes into force on day 2
    cert = next(c for c in world.loadable_certificates() if c["holder_code_type"] == "001" and c["status"] == "有效"
                and c["long_term"] and c["holder_code"] in clean)
    world.cert_server.upsert([{**cert, "valid_from": day2.isoformat()}])
    certs = [{**c, "valid_from": day2.isoformat()} if c["cert_identifier"] == cert["cert_identifier"] else c
             for c in world.loadable_certificates()]
    holder = cert["holder_code"]

    # the penalties are loaded by a later interval's run (the decision date is not in the future
    # for it) before the theme's refresh of day 1 runs
    load_inputs(only=("base_legal_entity.legal_entity", "base_e_certificate.certificate", "dept_court.dishonest_debtor",
                      "dept_tax.tax_credit_rating"))
    later = (DAY2[0] + dt.timedelta(days=1), DAY2[1] + dt.timedelta(days=1))
    load_inputs(later, only=("dept_market_regulation.administrative_penalty",))
    world.status = dict(dbs.query("SELECT credit_code, status FROM base_legal_entity.legal_entity_current"))
    assert {future_party, leap_party, holder} <= set(world.status)
    penalty_rows = world.penalty_rows()

    def refresh(interval) -> dict:
        summary = run(catalog_entry(CREDIT), interval)
        assert summary["status"] == "success", summary
        got = theme_rows(dbs, CREDIT)
        expected = expected_credit(world, as_of_date(interval), {future_party, leap_party, holder},
                                   penalty_rows=penalty_rows, certificate_rows=certs)
        assert {c: pick(got[c], expected[c]) for c in expected} == expected
        assert current_rows(CREDIT) == model_rows(CREDIT, interval)
        return got

    got = refresh(DAY1)
    assert got[future_party]["penalty_count_3y"] == 0 and got[leap_party]["penalty_count_3y"] == 1
    certificates_before = got[holder]["valid_certificate_count"]
    got = refresh(DAY2)  # no input loaded since the first refresh: only the ages bring these in
    assert (got[future_party]["penalty_count_3y"], got[future_party]["penalty_amount_3y"]) == (1, Decimal("800.00"))
    assert got[holder]["valid_certificate_count"] == certificates_before + 1
    leap = []
    for day in (dt.date(2027, 2, 27), dt.date(2027, 2, 28), dt.date(2027, 3, 1)):
        leap.append(refresh(day_interval(day))[leap_party]["penalty_count_3y"])
    assert leap == [1, 0, 0]  # 2024-02-29 + 3 years = 2027-02-28: out from that day on


def set_person(conn, citizen_id: str, status: str, at: dt.datetime) -> None:
    with conn.cursor() as cur:
        cur.execute(f"UPDATE {POPULATION_SOURCE} SET registration_status = %s, updated_at = %s WHERE id_number = %s",
                    (status, at, citizen_id))
    conn.commit()


def add_payments(conn, citizen_id: str, months: list[dt.date], at: dt.datetime) -> None:
    with conn.cursor() as cur:
        for month in months:
            cur.execute("INSERT INTO frontend.pension_payment (citizen_id, pay_month, amount, paid_on, updated_at) "
                        "VALUES (%s, %s, 2000, %s, %s)", (citizen_id, month, month + dt.timedelta(days=14), at))
    conn.commit()


def test_a_deletion_breaks_the_run_of_death_versions_and_payments_alone_make_an_insured_row(dbs, world):
    """Through real loads: a person 正常 -> 死亡 -> 正常 -> 死亡 died at the last 死亡 version; a person
    死亡 -> deleted -> reappearing 死亡 died at the reappearance (the tombstone copies 死亡 but breaks
    the run); a person paid without any enrolment is an insured-person row, flagged."""
    expected_people, _ = expected_social(world)
    alive = [pid for pid, p in sorted(expected_people.items())
             if p["pension_status"] == "领取中" and p["registration_status"] == "正常"]
    twice, deleted = alive[0], alive[1]
    people = {p.id_number: p for p in world.people}
    unpaid = next(pid for pid in sorted(people) if pid not in expected_people
                  and people[pid].registration_status == "正常")
    hr = dbs.source("dept_human_resources")
    add_payments(hr, unpaid, [dt.date(2026, 8, 1), dt.date(2026, 9, 1)], AS_OF - dt.timedelta(days=2))
    load_inputs(only=SOCIAL)
    for target in (INSURED, AFTER_DEATH):
        assert run(catalog_entry(target), DAY1)["status"] == "success"
    row = theme_rows(dbs, INSURED, "citizen_id")[unpaid]
    assert (row["name"], row["enrolment_status"], row["months_paid"], row["paid_without_pension_enrolment"],
            row["not_in_population"]) == (None, None, 2, True, False)

    person = dbs.source("dept_public_security")
    population_entry = catalog_entry("base_population.person")
    t1 = dt.datetime(2026, 11, 2, 2, tzinfo=UTC)
    for pid in (twice, deleted):
        set_person(person, pid, "死亡", t1)
    assert run(population_entry, DAY2)["status"] == "success"
    t2 = t1 + dt.timedelta(days=1)
    set_person(person, twice, "正常", t2)
    with person.cursor() as cur:
        cur.execute(f"SELECT * FROM {POPULATION_SOURCE} WHERE id_number = %s", (deleted,))
        saved = dict(zip([d.name for d in cur.description], cur.fetchone()))
        cur.execute(f"DELETE FROM {POPULATION_SOURCE} WHERE id_number = %s", (deleted,))
    person.commit()
    day3 = (DAY2[0] + dt.timedelta(days=1), DAY2[1] + dt.timedelta(days=1))
    assert run(population_entry, day3, "reconcile")["status"] == "success"
    assert dbs.scalar("SELECT count(*) FROM base_population.person_history WHERE id_number = %s AND _change = 'D'",
                      (deleted,)) == 1
    # December: the first person dies again; the deleted one reappears, still 死亡
    t3 = dt.datetime(2026, 12, 15, 2, tzinfo=UTC)
    set_person(person, twice, "死亡", t3)
    with person.cursor() as cur:
        columns = [c for c in saved if c != "row_id"]
        cur.execute(f"INSERT INTO {POPULATION_SOURCE} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                    [t3 if c == "updated_at" else saved[c] for c in columns])
    person.commit()
    person.close()
    for pid in (twice, deleted):
        add_payments(hr, pid, [dt.date(2026, 12, 1), dt.date(2027, 1, 1)], t3)
    hr.close()
    december = day_interval(dt.date(2027, 1, 16))  # loaded mid-January (no payment month in the future)
    load_inputs(december, only=("base_population.person", "dept_human_resources.pension_payment"))
    for target in (INSURED, AFTER_DEATH):
        summary = run(catalog_entry(target), december)
        assert summary["status"] == "success" and summary["mode"] == "incremental", summary

    insured = theme_rows(dbs, INSURED, "citizen_id")
    assert insured[twice]["death_registered_at"] == t3 and insured[deleted]["death_registered_at"] == t3
    assert insured[twice]["months_paid_after_death"] == insured[deleted]["months_paid_after_death"] == 1
    listed = {r for r in dbs.query(f"SELECT citizen_id, pay_month FROM {AFTER_DEATH}_current")
              if r[0] in (twice, deleted)}
    assert listed == {(twice, dt.date(2027, 1, 1)), (deleted, dt.date(2027, 1, 1))}
    for target in (INSURED, AFTER_DEATH):
        assert current_rows(target) == model_rows(target, december), target


def test_the_after_death_list_empties_when_the_payments_are_corrected(dbs, world):
    """The list's goal state is empty: after the department corrects every after-death payment at
    the source, the incremental refresh removes every row and loads; a rebuild of the empty list
    loads too (allow_empty), both with the list empty."""
    load_inputs(only=SOCIAL)
    first = run(catalog_entry(AFTER_DEATH), DAY1)
    listed = first["rows_inserted"]
    assert first["status"] == "success" and listed == world.social.pension_after_death > 0
    truth = world.source_rows("dept_human_resources", social_insurance.pension_after_death)
    conn = dbs.source("dept_human_resources")
    with conn.cursor() as cur:
        cur.execute("DELETE FROM frontend.pension_payment p USING unnest(%s::text[], %s::date[]) AS t (c, m) "
                    "WHERE p.citizen_id = t.c AND p.pay_month = t.m",
                    ([c for c, _ in truth], [m for _, m in truth]))
        assert cur.rowcount >= listed
    conn.commit()
    conn.close()
    load_inputs(DAY2, only=("dept_human_resources.pension_payment",),
                modes={"dept_human_resources.pension_payment": "reconcile"})
    second = run(catalog_entry(AFTER_DEATH), DAY2)
    assert (second["status"], second["mode"], second["rows_deleted"]) == ("success", "incremental", listed), second
    assert dbs.scalar(f"SELECT count(*) FROM {AFTER_DEATH}_current") == 0
    rebuilt = run(catalog_entry(AFTER_DEATH), DAY2, "reconcile")
    assert (rebuilt["status"], rebuilt["rows_extracted"]) == ("success", 0), rebuilt
    assert dbs.scalar(f"SELECT count(*) FROM {AFTER_DEATH}_current") == 0
