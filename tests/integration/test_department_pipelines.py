"""The five department resources (catalog class 3) through ``pipeline.run`` against real
PostgreSQL: penalties and social insurance from front-end databases, the court's list from a real
loopback HTTP API, tax ratings from a real Excel file drop. Every injected defect lands in
``ops.quarantine`` with a reason naming its cause, everything else loads, and the cross-library
match rates equal the simulators' planted unknown references.

Each resource runs with the data interval its own DAG gets when ``make demo`` runs
``airflow dags test <dag> 2026-11-02`` (:func:`demo_interval`: its cron timetable's manual
interval), so a schedule that does not fit when the department delivers fails here."""
from __future__ import annotations

import datetime as dt
import secrets

import pytest

from baselib.orchestration.schedules import TIMEZONE, cron_for
from baselib_simulators import departments, dishonest_debtors, legal_entity, penalties, population, social_insurance
from baselib_simulators import tax_ratings
from tests.conftest import AS_OF, DAY1, UTC
from tests.integration.pipeline_helpers import assert_accounted, catalog_entry, run

PEOPLE = 3000
REGISTRANTS = 3000
DEMO_LOGICAL_DATE = dt.datetime(2026, 11, 2, tzinfo=UTC)   # scripts/demo.sh: airflow dags test <dag> 2026-11-02


def demo_interval(target: str) -> tuple[dt.datetime, dt.datetime]:
    """(start, end), aware UTC: the data interval of the manual run ``airflow dags test <dag>
    2026-11-02`` creates for ``target``'s DAG, computed by Airflow's own cron timetable from the
    schedule the DAG factory gives it (:func:`cron_for`, Asia/Shanghai)."""
    import pendulum
    from airflow.timetables.interval import CronDataIntervalTimetable

    timetable = CronDataIntervalTimetable(cron_for(catalog_entry(target)), timezone=TIMEZONE)
    interval = timetable.infer_manual_data_interval(run_after=pendulum.instance(DEMO_LOGICAL_DATE))
    return (dt.datetime.fromtimestamp(interval.start.timestamp(), UTC),
            dt.datetime.fromtimestamp(interval.end.timestamp(), UTC))


def run_for_demo(target: str) -> dict:
    """``target``'s pipeline over :func:`demo_interval`."""
    return run(catalog_entry(target), demo_interval(target))


def test_demo_intervals_are_the_airflow_manual_intervals():
    """The daily DAGs get 2026-11-01 (Asia/Shanghai), as DAY1; the monthly pension payments October;
    the tax ratings the rating year ending May 1st, after April's publication."""
    assert demo_interval("dept_court.dishonest_debtor") == DAY1
    assert demo_interval("dept_human_resources.pension_payment") == (
        dt.datetime(2026, 9, 30, 16, tzinfo=UTC), dt.datetime(2026, 10, 31, 16, tzinfo=UTC))
    assert demo_interval("dept_tax.tax_credit_rating") == (
        dt.datetime(2025, 4, 30, 18, tzinfo=UTC), dt.datetime(2026, 4, 30, 18, tzinfo=UTC))


@pytest.fixture
def bases(dbs):
    """Population and legal-entity sources filled and loaded into their base libraries; returns
    (registrants, people): their defect-free rows."""
    conn = dbs.source("dept_public_security")
    population.create(conn, rows=PEOPLE, seed=31, as_of=AS_OF)
    people = departments.people(conn)
    conn.close()
    conn = dbs.source("dept_market_regulation")
    legal_entity.create(conn, rows=REGISTRANTS, seed=31, as_of=AS_OF)
    registrants = departments.registrants(conn)
    conn.close()
    for target in ("base_population.person", "base_legal_entity.legal_entity"):
        assert run_for_demo(target)["status"] == "success"
    return registrants, people


def quarantined(dbs, summary) -> dict[str, str]:
    """record_key -> reason of the entries this load quarantined."""
    return dict(dbs.query("SELECT record_key, reason FROM ops.quarantine WHERE last_load_id = %s",
                          (summary["load_id"],)))


def cross_checks(dbs, summary) -> dict:
    return dbs.scalar("SELECT cross_checks FROM ops.load_run WHERE load_id = %s", (summary["load_id"],))


def assert_reasons(found: dict[str, str], planted: dict[str, str], words: dict[str, str]) -> None:
    """Each planted key is quarantined with a reason naming its defect's cause (``words[defect]``)."""
    assert set(found) == set(planted)
    for key, defect in planted.items():
        expected = (words[defect],) if isinstance(words[defect], str) else words[defect]
        assert all(word in found[key] for word in expected), (key, defect, found[key])


def test_administrative_penalties(dbs, bases):
    registrants, _ = bases
    conn = dbs.source("dept_market_regulation")
    result = penalties.create(conn, registrants, seed=5, as_of=AS_OF, rates={k: 0.012 for k in penalties.DEFECTS},
                              unmatched_rate=0.05)
    planted, loadable = penalties.defects(conn), penalties.loadable_rows(conn)
    expected_rate = penalties.expected_match_rate(conn)
    conn.close()
    assert all(result.defects.get(kind) for kind in penalties.DEFECTS) and result.unmatched

    summary = run_for_demo("dept_market_regulation.administrative_penalty")

    assert_accounted(summary)
    assert summary["rows_extracted"] == result.rows
    assert_reasons(quarantined(dbs, summary), planted, {
        "bad_party_code": ("party_credit_code", "校验码错误"), "bad_authority_code": ("authority_code", "校验码错误"),
        "negative_amount": "罚没金额为负数", "future_decision_date": "处罚决定日期晚于数据截止日",
        "unknown_penalty_type": "处罚种类不是"})
    rows = dbs.query("SELECT decision_number, party_credit_code, penalty_amount, decision_date "
                     "FROM dept_market_regulation.administrative_penalty_current ORDER BY 1")
    assert rows == [(r["decision_number"], r["party_credit_code"], r["penalty_amount"], r["decision_date"])
                    for r in loadable]
    check = cross_checks(dbs, summary)["party_in_legal_entity"]
    assert check["match_rate"] == pytest.approx(expected_rate, abs=1e-6) and 0 < check["match_rate"] < 1
    assert check["checked"] - check["matched"] == sum(not r["party_in_base"] for r in loadable)


def test_dishonest_debtors_from_the_court_api(dbs, bases, monkeypatch):
    registrants, people = bases
    manifest = dishonest_debtors.generate(registrants, people, seed=6, as_of=AS_OF,
                                          rates={k: 0.012 for k in dishonest_debtors.DEFECTS}, unmatched_rate=0.1,
                                          company_share=0.2, citizen_share=0.1)
    assert set(manifest.defect_counts) == set(dishonest_debtors.DEFECTS)
    with dishonest_debtors.server(manifest.records, token=secrets.token_urlsafe(16)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_COURT_API", server.connection_uri())
        summary = run_for_demo("dept_court.dishonest_debtor")
        assert any(r.path.startswith(dishonest_debtors.ENDPOINT) and r.status == 200 for r in server.requests)

    assert_accounted(summary)
    assert summary["rows_extracted"] == len(manifest.records)
    assert_reasons(quarantined(dbs, summary), manifest.defects, {
        "bad_party_code": ("party_code", "校验码错误"), "type_mismatch": ("party_code", "（类型 "),
        "unknown_status": "名单状态不在值域", "removed_date_while_listed": "名单状态为在列却填写了移出日期",
        "future_publish_date": "发布日期晚于数据截止日", "published_before_filing": "立案日期 ≤ 发布日期"})
    loaded = dict(dbs.query("SELECT case_number, status FROM dept_court.dishonest_debtor_current"))
    assert loaded == {r["case_number"]: r["status"] for r in manifest.loadable()}
    assert {"在列", "已移出"} <= set(loaded.values())
    checks = cross_checks(dbs, summary)
    assert checks["party_in_legal_entity"]["match_rate"] == pytest.approx(manifest.match_rate("001"), abs=1e-6)
    assert checks["party_in_population"]["match_rate"] == pytest.approx(manifest.match_rate("111"), abs=1e-6)
    assert 0 < checks["party_in_population"]["match_rate"] < 1 and 0 < checks["party_in_legal_entity"]["match_rate"] < 1


def test_tax_credit_ratings_from_an_excel_drop(dbs, bases, landing):
    registrants, _ = bases
    drop = tax_ratings.write_drop(landing, registrants, seed=7, as_of=AS_OF,
                                  rates={k: 0.01 for k in tax_ratings.DEFECTS}, unmatched_rate=0.05)
    assert [p.name for p in drop.files] == ["纳税信用等级评价结果_2024.xlsx", "纳税信用等级评价结果_2025.xlsx"]
    assert set(drop.defect_counts) == set(tax_ratings.DEFECTS)

    summary = run_for_demo("dept_tax.tax_credit_rating")

    assert summary["status"] == "success"
    assert summary["rows_extracted"] == len(drop.rows)
    assert summary["rows_inserted"] == len(drop.loadable())
    planted = {f"{code}/{year}": defect for (code, year), defect in drop.defects.items()}
    assert_reasons(quarantined(dbs, summary), planted, {
        "bad_credit_code": ("credit_code", "校验码错误"), "unknown_rating": "纳税信用级别不在值域",
        "future_evaluated_on": "评价日期晚于数据截止日", "duplicate_in_file": "同一交付文件中重复"})
    loaded = set(dbs.query("SELECT credit_code, rating_year, rating, evaluated_on FROM dept_tax.tax_credit_rating_current"))
    assert loaded == {(r["credit_code"], r["rating_year"], r["rating"], r["evaluated_on"]) for r in drop.loadable()}
    assert dbs.scalar("SELECT count(*) FROM ops.file_delivery WHERE status = 'loaded'") == 2
    # both rating years load for the demo's date: the 2025 ratings (evaluated April 2026) are not "in the future"
    years = dict(dbs.query("SELECT rating_year, count(*) FROM dept_tax.tax_credit_rating_current GROUP BY 1"))
    assert years == {year: sum(r["rating_year"] == year for r in drop.loadable()) for year in (2024, 2025)}
    assert all(years.values())
    check = cross_checks(dbs, summary)["taxpayer_in_legal_entity"]
    assert check["match_rate"] == pytest.approx(drop.match_rate(), abs=1e-6) and 0 < check["match_rate"] < 1


def test_social_insurance_enrolment_and_pension_payments(dbs, bases):
    _, people = bases
    conn = dbs.source("dept_human_resources")
    result = social_insurance.create(conn, people, seed=8, as_of=AS_OF, enrolled_share=0.6,
                                     enrolment_rates={k: 0.01 for k in social_insurance.ENROLMENT_DEFECTS},
                                     payment_rates={k: 0.003 for k in social_insurance.PAYMENT_DEFECTS})
    truth = {"enrolment": social_insurance.defects(conn, "enrolment"),
             "payment": social_insurance.defects(conn, "payment")}
    enrolments, payments = social_insurance.loadable_enrolments(conn), social_insurance.loadable_payments(conn)
    after_death = social_insurance.pension_after_death(conn)
    rates = social_insurance.expected_match_rates(conn)
    conn.close()
    assert set(result.enrolment_defects) == set(social_insurance.ENROLMENT_DEFECTS)
    assert set(result.payment_defects) == set(social_insurance.PAYMENT_DEFECTS)
    assert result.pension_after_death == len(after_death) > 0

    enrolled = run_for_demo("dept_human_resources.insurance_enrolment")
    paid = run_for_demo("dept_human_resources.pension_payment")

    assert_accounted(enrolled)
    assert_accounted(paid)
    assert enrolled["rows_extracted"] == result.enrolments and paid["rows_extracted"] == result.payments
    assert_reasons(quarantined(dbs, enrolled), truth["enrolment"], {
        "bad_citizen_id": ("citizen_id", "校验码错误"), "unknown_insurance_type": "险种类型不在值域",
        "unknown_status": "参保状态不在值域", "pension_status_on_non_pension": "非养老保险险种不应有养老待遇领取状态",
        "future_enrolled_on": "参保日期晚于数据截止日"})
    assert_reasons(quarantined(dbs, paid), truth["payment"], {
        "bad_citizen_id": ("citizen_id", "校验码错误"), "negative_amount": "发放金额不是正数",
        "future_paid_on": "发放日期晚于数据截止日", "paid_before_month": "发放日期早于待遇所属月份"})
    assert dbs.scalar("SELECT count(*) FROM dept_human_resources.insurance_enrolment_current") == len(enrolments)
    loaded_payments = set(dbs.query("SELECT citizen_id, pay_month, amount FROM dept_human_resources.pension_payment_current"))
    assert loaded_payments == {(r["citizen_id"], r["pay_month"], r["amount"]) for r in payments}
    assert {k for k in after_death} <= {(c, m) for c, m, _ in loaded_payments}
    checks = {**cross_checks(dbs, enrolled), **cross_checks(dbs, paid)}
    for name in ("insured_in_population", "pensioner_in_population"):
        assert checks[name]["match_rate"] == pytest.approx(rates[name], abs=1e-6) and 0 < rates[name] < 1


def test_a_pay_month_that_is_not_the_first_of_its_month_is_quarantined(dbs, bases):
    _, people = bases
    conn = dbs.source("dept_human_resources")
    social_insurance.create(conn, people, seed=8, as_of=AS_OF, enrolled_share=0.3,
                            enrolment_rates={k: 0.0 for k in social_insurance.ENROLMENT_DEFECTS},
                            payment_rates={k: 0.0 for k in social_insurance.PAYMENT_DEFECTS})
    with conn.cursor() as cur:  # one payment dated the 10th of the month it pays for (paid on the 15th)
        cur.execute("UPDATE frontend.pension_payment SET pay_month = pay_month + 9 WHERE row_id = "
                    "(SELECT min(row_id) FROM frontend.pension_payment) RETURNING citizen_id, pay_month")
        citizen, moved = cur.fetchone()
    conn.commit()
    conn.close()
    assert moved.day == 10

    paid = run_for_demo("dept_human_resources.pension_payment")

    assert_accounted(paid)
    found = quarantined(dbs, paid)
    assert len(found) == 1 and paid["rows_quarantined"] == 1
    [(key, reason)] = found.items()
    assert citizen in key and moved.isoformat() in key and "待遇所属月份不是当月1日" in reason
    assert dbs.scalar("SELECT count(*) FROM dept_human_resources.pension_payment_current "
                      "WHERE extract(day FROM pay_month) <> 1") == 0


def test_pensions_after_death_follow_the_population_librarys_death_registration(dbs, bases):
    """The truth equals the rule of common.md evaluated on the loaded libraries: payments of months
    (Asia/Shanghai) after the month the open 死亡 version of the person was registered."""
    _, people = bases
    conn = dbs.source("dept_human_resources")
    social_insurance.create(conn, people, seed=9, as_of=AS_OF, enrolled_share=0.7)
    truth = social_insurance.pension_after_death(conn)
    conn.close()
    run_for_demo("dept_human_resources.pension_payment")
    found = set(dbs.query(
        "SELECT p.citizen_id, p.pay_month FROM dept_human_resources.pension_payment_current p "
        "JOIN base_population.person_current h ON h.id_number = p.citizen_id AND h.registration_status = '死亡' "
        "WHERE p.pay_month > date_trunc('month', h.updated_at AT TIME ZONE 'Asia/Shanghai')::date"))
    assert found == truth and len(truth) > 0
    dead_paid = {c for c, _ in truth}
    assert len(dead_paid) < sum(1 for p in people if p.registration_status == "死亡")  # others stop correctly
    assert all(m.day == 1 and m < dt.date(2026, 11, 1) for _, m in truth)


def test_start_apis_serves_the_e_licence_and_court_apis_from_one_process(tmp_path):
    """The command demo.sh evaluates (``start-certificates`` is its alias): one process, one port
    and one token per API, each answering only its own token."""
    import json
    import os
    import signal
    import subprocess
    import sys

    import httpx

    from baselib.sources.http_api import parse_connection
    from tests.integration.test_demo_api_port import RECORD, ROOT

    certificates_file, court_file = tmp_path / "certificates.json", tmp_path / "court.json"
    certificates_file.write_text(json.dumps([RECORD]), encoding="utf-8")
    court_file.write_text(json.dumps([{"case_number": "（2025）赣0102执1号", "updated_at": "2026-10-01T00:00:00Z"}],
                                     ensure_ascii=False), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW_CONN_E_LICENCE_API", "AIRFLOW_CONN_COURT_API")}
    env |= {"AIRFLOW_HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "plugins")}
    done = subprocess.run([sys.executable, "-m", "baselib.cli", "start-certificates", "--records", str(certificates_file),
                           "--court-records", str(court_file)], env=env, capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines())
    try:
        court = parse_connection(exports["AIRFLOW_CONN_COURT_API"].strip("'"))
        licence = parse_connection(exports["AIRFLOW_CONN_E_LICENCE_API"].strip("'"))
        assert court.base_url != licence.base_url and court.token != licence.token

        def get(conn, token):
            return httpx.get(f"{conn.base_url}{dishonest_debtors.ENDPOINT}", timeout=10,
                             headers={"Authorization": f"Bearer {token}"})

        assert get(court, court.token).json()["items"][0]["case_number"] == "（2025）赣0102执1号"
        assert get(court, licence.token).status_code == 401
        assert (tmp_path / "court_api.token").read_text().strip() == court.token
    finally:
        os.kill(int(exports["DEMO_API_PID"]), signal.SIGTERM)
