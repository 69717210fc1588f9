"""Evaluation indicators per department and period, each checked against what the test wrote: a real
pipeline run of the population (timeliness, quarantine rate, quality, catalog completeness), real
objections and applications through baselib.sharing (objections on time, application response),
simulated history and real applications for a department that only consumes (scored on use only),
and recomputation (same digest, one row)."""
from __future__ import annotations

import datetime as dt

import pytest

from baselib.catalog import load_catalog
from baselib.evaluation import config, indicators, payload, periods
from baselib.quality import scoring
from baselib.sharing import applications, objections
from baselib.warehouse import schema
from baselib_simulators import history
from tests.conftest import DAY1
from tests.integration.pipeline_helpers import fill_source, run
from tests.integration.sharing_fixtures import register_consumers
from tests.integration.test_objections import people, row_key_of

SHANGHAI = periods.TIMEZONE
NOVEMBER = periods.parse("month", "2026-11")
PERIOD_END = NOVEMBER.bounds[1]
POPULATION = "101001/000001"
PROVIDER = "11360000014400005D"            # 省公安厅: provides the population only
RELIEF_DEPARTMENT = "113600000144006013"   # 省民政厅: consumes only (include/sharing/consumers.yaml)
ITEMS = ["id_number", "name", "sex", "division_code", "address", "registration_status"]


def local(y, m, d, h=10, minute=0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def one(rows, code):
    return next(r for r in rows if r["department_code"] == code)


def raise_on(conn, catalog, key, now):
    return objections.raise_objection(
        conn, consumer_code="tax", resource_code=POPULATION, item="address", value_seen="某地址****",
        value_expected="南昌市东湖区八一大道 1 号", evidence="不动产登记证明", row_key=row_key_of(conn, key), now=now,
        catalog=catalog)


def apply_for(conn, catalog, consumer, now, start=dt.date(2026, 12, 1)):
    return applications.apply(conn, consumer_code=consumer, resource_code=POPULATION, items=ITEMS, purpose="核对救助对象",
                              legal_basis="《社会救助暂行办法》第五十一条", period_start=start,
                              period_end=dt.date(2026, 12, 31), now=now, catalog=catalog)


def test_provision_indicators_equal_what_the_runs_objections_and_applications_did(dbs, population, catalog):
    fill_source(dbs, rows=400, rates={"bad_check_character": 0.02, "missing_name": 0.01})
    summary = run(population, DAY1)                 # data day 2026-11-01
    assert summary["status"] == "success" and summary["rows_quarantined"] > 0
    conn = dbs.warehouse()
    schema.ensure(conn, [])
    register_consumers(conn, "tax", "relief")
    app = apply_for(conn, catalog, "tax", local(2026, 8, 27), start=dt.date(2026, 9, 1))
    applications.approve(conn, app.application_id, by="省公安厅", now=local(2026, 8, 28))

    # objections: answered on time (rejected), answered late (confirmed, then not corrected in time),
    # never answered, and one whose answer is due in December (not judged in November)
    keys = [p[0] for p in people(dbs, 4)]
    raised = local(2026, 11, 2)
    o1, o2, o3 = (raise_on(conn, catalog, key, raised) for key in keys[:3])
    o4 = raise_on(conn, catalog, keys[3], local(2026, 11, 25))
    objections.reject(conn, o1.objection_id, by="省公安厅", reason="户籍登记地址无误", now=local(2026, 11, 3))
    objections.confirm(conn, o2.objection_id, by="省公安厅", now=o2.answer_due_at + dt.timedelta(days=2), catalog=catalog)

    # applications to the population: decided in time, refused late, left pending, due in December
    a1 = apply_for(conn, catalog, "relief", local(2026, 11, 3))
    a2 = apply_for(conn, catalog, "relief", local(2026, 11, 4, 11))
    a3 = apply_for(conn, catalog, "relief", local(2026, 11, 5, 9))
    a4 = apply_for(conn, catalog, "relief", local(2026, 11, 27))
    applications.approve(conn, a1.application_id, by="省公安厅", now=local(2026, 11, 5, 15))
    applications.refuse(conn, a2.application_id, by="省公安厅", reason="用途超出共享条件", now=a2.due_at + dt.timedelta(hours=30))
    conn.commit()

    rows = indicators.compute(conn, NOVEMBER, departments=[PROVIDER], as_of=PERIOD_END, now=PERIOD_END)
    assert [r["department_code"] for r in rows] == [PROVIDER]
    row = rows[0]
    got = row["indicators"]
    cfg = config.load_config()

    # timeliness and quarantine rate: the one run of the month
    within = dbs.scalar("SELECT within_update_cycle FROM evaluation.sync_metrics WHERE load_id = %s", (summary["load_id"],))
    assert got["timeliness"]["value"] == (1.0 if within else 0.0)
    assert got["timeliness"]["detail"]["judged"] == 1 and got["timeliness"]["detail"]["on_time"] == int(within)
    rate = summary["rows_quarantined"] / summary["rows_extracted"]
    assert got["quarantine_rate"]["value"] == round(rate, 6)
    assert got["quarantine_rate"]["score"] == round(100 * max(0.0, 1 - round(rate, 6) / 0.05), 3)
    assert got["quarantine_rate"]["detail"]["rows_extracted"] == summary["rows_extracted"]

    # quality: the provider's overall score over the month, when its runs were scored
    overall = scoring.provider_scores(conn, PROVIDER, NOVEMBER)["overall"]["score"]
    assert got["quality"]["applicable"] is (overall is not None)
    assert got["quality"]["value"] == overall

    # objections: each limit with its deadline in November counts once
    final = {o.objection_id: objections.get(conn, o.objection_id, now=PERIOD_END) for o in (o1, o2, o3, o4)}
    answer_limits = [o for o in final.values() if NOVEMBER.bounds[0] <= o.answer_due_at < PERIOD_END]
    correction_limits = [o for o in final.values() if o.correction_due_at and o.correction_due_at < PERIOD_END]
    assert {o.objection_id for o in answer_limits} == {o1.objection_id, o2.objection_id, o3.objection_id}
    assert [o.objection_id for o in correction_limits] == [o2.objection_id]
    met = sum(1 for o in answer_limits if o.answered_at and o.answered_at <= o.answer_due_at)
    assert met == 1
    assert got["objections_on_time"]["value"] == round(met / (len(answer_limits) + len(correction_limits)), 6) == 0.25
    assert got["objections_on_time"]["detail"]["answers_due"] == 3
    assert got["objections_on_time"]["detail"]["corrections_due"] == 1
    assert got["objections_on_time"]["detail"]["raised"] == 4

    # applications: a1 in time, a2 late, a3 never decided (late, pending overdue), a4 due in December
    decided = {a.application_id: applications.get(conn, a.application_id, now=PERIOD_END) for a in (a1, a2, a3, a4)}
    judged = [a for a in decided.values() if a.due_at < PERIOD_END]
    assert {a.application_id for a in judged} == {a1.application_id, a2.application_id, a3.application_id}
    on_time = [a for a in judged if a.decided_at and a.decided_at < a.due_at]
    assert [a.application_id for a in on_time] == [a1.application_id]
    response = got["application_response"]
    assert response["value"] == round(1 / 3, 6) and response["score"] == round(100 * round(1 / 3, 6), 3)
    made = [decided[a1.application_id], decided[a2.application_id]]
    assert response["detail"] == {
        "received": 4, "due": 3, "on_time": 1, "late": 2, "decided": 2,
        "mean_working_days": round(sum(a.response_working_days for a in made) / 2, 2),
        "mean_hours": round(sum((a.decided_at - a.submitted_at).total_seconds() / 3600 for a in made) / 2, 2),
        "pending_overdue": 1}

    # the department consumes nothing: use is not applicable; the score is the weighted mean of the rest
    assert not got["applications_made"]["applicable"] and not got["measured_use"]["applicable"]
    applicable = {n: i for n, i in got.items() if i["applicable"]}
    weights = {n: config.weight(cfg, n) for n in applicable}
    expected = sum(weights[n] * applicable[n]["score"] for n in applicable) / sum(weights.values())
    assert float(row["score"]) == pytest.approx(expected, abs=1e-3)
    assert row["grade"] == config.grade(float(row["score"]), cfg)
    assert row["payload_sha256"] == payload.digest(payload.build(row))
    conn.close()

    # catalog completeness: the items the month's one load delivered (a value in some extracted row),
    # counted on the source itself
    names = [i.name for i in population.items]
    counts = dbs.query(f"SELECT {', '.join(f'count({n})' for n in names)} FROM frontend.population_person",
                       db="source")[0]                                    # catalog names, not input
    filled = sum(1 for c in counts if c > 0)
    completeness = got["catalog_completeness"]
    assert completeness["value"] == round(filled / len(names), 6)
    assert completeness["detail"]["resources"] == {POPULATION: {"items": len(names), "delivered": filled, "loads": 1}}
    assert completeness["detail"]["at"] == PERIOD_END.isoformat()


def test_a_department_that_only_consumes_is_scored_on_use_only_and_recompute_is_idempotent(dbs, catalog):
    resources = [r for r in catalog if r.pipeline.target.qualified in ("base_population.person",
                                                                         "base_macro_economy.indicator")]
    conn = dbs.warehouse()
    schema.ensure(conn, [])
    register_consumers(conn, "civil_affairs_relief", department_code=RELIEF_DEPARTMENT)
    try:
        history.simulate(conn, dt.date(2026, 10, 20), dt.date(2026, 12, 1), seed=4, catalog=resources)
        # two applications filed in November, one in October
        for when in (local(2026, 10, 28), local(2026, 11, 9), local(2026, 11, 23)):
            apply_for(conn, resources, "civil_affairs_relief", when)
        conn.commit()
        first = indicators.compute(conn, NOVEMBER, departments=[RELIEF_DEPARTMENT], catalog=resources,
                                   as_of=PERIOD_END, now=PERIOD_END)
        stamp = dbs.scalar("SELECT computed_at FROM evaluation.indicator")
        again = indicators.compute(conn, NOVEMBER, departments=[RELIEF_DEPARTMENT], catalog=resources,
                                   as_of=PERIOD_END, now=PERIOD_END)
    finally:
        conn.close()
    row = one(first, RELIEF_DEPARTMENT)
    assert row["department_name"] == "省民政厅"          # its name from include/sharing/consumers.yaml
    got = row["indicators"]
    cfg = config.load_config()
    for name in config.INDICATORS["provision"]:
        assert got[name] == {"value": None, "score": None, "weight": config.weight(cfg, name), "unit": got[name]["unit"],
                             "applicable": False, "detail": {"reason": "provides no catalog resource"}}
    target = cfg["use"]["applications_made"]["target"]
    assert got["applications_made"]["value"] == 2
    assert got["applications_made"]["score"] == round(100 * min(1.0, 2 / target), 3)
    queries, rows_read = dbs.query(
        "SELECT sum(queries)::bigint, sum(rows_read)::bigint FROM evaluation.sharing_usage WHERE consumer_code = 'civil_affairs_relief' "
        "AND usage_date >= '2026-11-01' AND usage_date < '2026-12-01'")[0]
    assert queries is not None and queries > 0
    assert got["measured_use"]["value"] == queries
    assert got["measured_use"]["detail"]["rows_read"] == rows_read
    use_target = cfg["use"]["measured_use"]["target"]
    scores = {"applications_made": 100 * min(1.0, 2 / target), "measured_use": 100 * min(1.0, queries / use_target)}
    expected = sum(cfg["use"][n]["weight"] * s for n, s in scores.items()) / sum(cfg["use"][n]["weight"] for n in scores)
    assert float(row["score"]) == pytest.approx(expected, abs=1e-3)
    assert row["flags"] == {"zombie_resources": [], "unused_resources": []}

    # recomputing changes nothing but computed_at: same digest, one row
    assert [r["payload_sha256"] for r in again] == [row["payload_sha256"]]
    assert dbs.query("SELECT department_code, payload_sha256 FROM evaluation.indicator") == [
        (RELIEF_DEPARTMENT, row["payload_sha256"])]
    assert dbs.scalar("SELECT computed_at FROM evaluation.indicator") > stamp


def test_unknown_department_is_refused_and_nothing_is_written(dbs, catalog):
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        with pytest.raises(ValueError, match="unknown department codes"):
            indicators.compute(conn, NOVEMBER, departments=["000000000000000000"], catalog=catalog)
    finally:
        conn.close()
    assert dbs.scalar("SELECT count(*) FROM evaluation.indicator") == 0


def cli(*args, check_rc=0):
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "baselib.cli", "evaluation", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": "plugins"}, timeout=300)
    assert done.returncode == check_rc, (done.stdout, done.stderr)
    return done


def test_cli_computes_shows_and_refuses_bad_input_writing_nothing(dbs, catalog):
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        history.simulate(conn, dt.date(2026, 11, 1), dt.date(2026, 12, 1), seed=1,
                         catalog=[r for r in catalog if r.code == POPULATION])
    finally:
        conn.close()
    bad = cli("compute", "--period", "2026-13", check_rc=1)
    assert bad.stderr.startswith("error: a month is written like 2026-11") and bad.stdout == ""
    bad = cli("compute", "--period", "2026-11", "--department", "000000000000000000", check_rc=1)
    assert bad.stderr.startswith("error: unknown department codes ['000000000000000000']")
    bad = cli("show", "--period", "2026-11", check_rc=1)
    assert "run `evaluation compute` first" in bad.stderr
    assert dbs.scalar("SELECT count(*) FROM evaluation.indicator") == 0

    done = cli("compute", "--period", "2026-11", "--department", PROVIDER, "--as-of", "2026-12-01")
    stored = dbs.query("SELECT department_code, score, grade, payload_sha256 FROM evaluation.indicator")
    assert [r[0] for r in stored] == [PROVIDER]
    shown = cli("show", "--period", "2026-11")
    for out in (done.stdout, shown.stdout):
        line = next(x for x in out.splitlines() if x.startswith(PROVIDER))
        assert "省公安厅" in line and f"{float(stored[0][1]):.1f}" in line and stored[0][2] in line
    assert dbs.query("SELECT department_code, score, grade, payload_sha256 FROM evaluation.indicator") == stored
