"""Per-run dimension scores (evaluation.quality_score) of the population pipeline, and a provider's
scores over a period, against real PostgreSQL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from baselib.errors import BlockingQualityFailure
from baselib.quality import scoring
from baselib.validation.plan import DIMENSIONS
from baselib_simulators import population as sim
from tests.conftest import DAY1, DAY2
from tests.integration.pipeline_helpers import fill_source, run

HIGH_RATES = {kind: 0.01 for kind in sim.DEFECTS}
CHECK_DIMENSIONS = ("normative", "complete", "accurate", "consistent")


def _scores(dbs, load_id) -> dict:
    rows = dbs.query("SELECT dimension, checks, elements, failed, score, grade FROM evaluation.quality_score "
                     "WHERE load_id = %s", (load_id,))
    return {d: {"checks": c, "elements": e, "failed": f, "score": None if s is None else float(s), "grade": g}
            for d, c, e, f, s, g in rows}


def _from_results(result: dict) -> dict:
    """Per check dimension, elements and failures summed from the validation result's entries."""
    out = {d: {"checks": 0, "elements": 0, "failed": 0} for d in CHECK_DIMENSIONS}
    for entry in result["results"]:
        row = out.get(entry["expectation_config"]["meta"]["dimension"])
        if row is not None:
            row["checks"] += 1
            row["elements"] += entry["result"]["element_count"]
            row["failed"] += entry["result"]["unexpected_count"]
    return out


def test_each_dimension_scores_one_minus_failed_over_elements_of_the_validation_result(dbs, population):
    fill_source(dbs, rows=1500, rates=HIGH_RATES)
    summary = run(population, DAY1)

    result = json.loads(Path(summary["report_path"]).with_name("validation_result.json").read_text(encoding="utf-8"))
    scores = _scores(dbs, summary["load_id"])
    config = scoring.load_config()
    assert set(scores) == {*DIMENSIONS, "overall"}
    expected = _from_results(result)
    for dimension in CHECK_DIMENSIONS:
        want = expected[dimension]
        got = scores[dimension]
        assert (got["checks"], got["elements"], got["failed"]) == (want["checks"], want["elements"], want["failed"])
        rate = 1 - want["failed"] / want["elements"] if want["elements"] else None
        assert got["score"] == pytest.approx(rate, abs=1e-6) if rate is not None else got["score"] is None
        assert got["grade"] == scoring.grade(got["score"], config)
    assert scores["normative"]["failed"] > 0 and scores["normative"]["score"] < 1
    # timely: one element from the sync metrics; accessible: the source could be read
    within = dbs.scalar("SELECT within_update_cycle FROM evaluation.sync_metrics WHERE load_id = %s",
                        (summary["load_id"],))
    assert (scores["timely"]["elements"], scores["timely"]["failed"]) == (1, 0 if within else 1)
    assert (scores["accessible"]["elements"], scores["accessible"]["failed"]) == (1, 0)
    overall = scoring.overall({d: scores[d]["score"] for d in DIMENSIONS}, config)
    assert scores["overall"]["score"] == pytest.approx(overall, abs=1e-6)
    assert scores["overall"]["grade"] == scoring.grade(scores["overall"]["score"], config)
    # the report's JSON carries the same scores, and scoring again changes nothing
    meta = json.loads(Path(summary["report_path"]).with_name("validation_result.json").read_text(encoding="utf-8"))["meta"]
    assert {d: meta["scores"][d]["score"] for d in scores} == pytest.approx({d: scores[d]["score"] for d in scores})
    from baselib.warehouse import connections
    with connections.transaction() as conn:
        scoring.score_load(conn, summary["load_id"], population)
    assert _scores(dbs, summary["load_id"]) == scores
    assert dbs.scalar("SELECT count(*) FROM evaluation.quality_score") == len(DIMENSIONS) + 1


def test_a_blocked_run_is_scored_from_its_validation_result(dbs, population):
    fill_source(dbs, rows=800)
    dbs.query("ALTER TABLE frontend.population_person DROP COLUMN sex", db="source")

    with pytest.raises(BlockingQualityFailure):
        run(population, DAY1)

    load_id, status, report_path = dbs.query("SELECT load_id, status, report_path FROM ops.load_run")[0]
    assert status == "blocked"
    result = json.loads(Path(report_path).with_name("validation_result.json").read_text(encoding="utf-8"))
    scores = _scores(dbs, load_id)
    expected = _from_results(result)
    for dimension in CHECK_DIMENSIONS:
        assert scores[dimension]["elements"] == expected[dimension]["elements"]
        assert scores[dimension]["failed"] == expected[dimension]["failed"]
    assert scores["complete"]["failed"] >= 1  # the missing column
    assert scores["timely"]["elements"] == 0 and scores["timely"]["score"] is None  # never recorded
    assert scores["overall"]["score"] is not None


def test_a_run_whose_source_cannot_be_read_is_an_accessible_failure(dbs, population):
    fill_source(dbs, rows=100)
    dbs.query("DROP TABLE frontend.population_person", db="source")

    with pytest.raises(Exception):
        run(population, DAY1)

    load_id, status = dbs.query("SELECT load_id, status FROM ops.load_run")[0]
    scores = _scores(dbs, load_id)
    assert status == "failed"
    assert (scores["accessible"]["elements"], scores["accessible"]["failed"], scores["accessible"]["score"]) == (1, 1, 0.0)
    assert all(scores[d]["elements"] == 0 for d in CHECK_DIMENSIONS)
    assert scores["overall"]["score"] == 0.0


def test_provider_scores_take_the_latest_full_load_per_resource_and_data_day(dbs, population):
    from baselib.evaluation import periods
    from baselib.warehouse import connections

    fill_source(dbs, rows=600, rates=HIGH_RATES)
    first = run(population, DAY1, mode="full")
    rerun = run(population, DAY1, mode="full")      # a full rerun of the same data day re-judges it: replaces it
    second = run(population, DAY2, mode="full")
    period = periods.containing("month", DAY1[1])
    assert periods.containing("month", DAY2[0]) == period

    with connections.transaction() as conn:
        got = scoring.provider_scores(conn, population.provider.code, period)

    latest = [_scores(dbs, rerun["load_id"]), _scores(dbs, second["load_id"])]
    assert first["load_id"] not in (rerun["load_id"], second["load_id"])
    for dimension in DIMENSIONS:
        elements = sum(s[dimension]["elements"] for s in latest)
        failed = sum(s[dimension]["failed"] for s in latest)
        assert (got[dimension]["elements"], got[dimension]["failed"]) == (elements, failed)
        assert got[dimension]["loads"] == 2
        assert got[dimension]["score"] == (round(1 - failed / elements, 6) if elements else None)
    assert got["overall"]["score"] == scoring.overall({d: got[d]["score"] for d in DIMENSIONS})


def test_provider_scores_count_every_incremental_load_of_a_day(dbs, population):
    """An incremental run judges only the rows it read: a later one of the same day judged other
    rows, so both count (only a full or reconcile extract replaces its day)."""
    from baselib.evaluation import periods
    from baselib.warehouse import connections

    fill_source(dbs, rows=600, rates=HIGH_RATES)
    first = run(population, DAY1, mode="full")
    later = run(population, DAY1)                   # incremental: the rows changed since the first
    assert dbs.scalar("SELECT mode FROM ops.load_run WHERE load_id = %s", (later["load_id"],)) == "incremental"

    with connections.transaction() as conn:
        got = scoring.provider_scores(conn, population.provider.code, periods.containing("month", DAY1[1]))

    both = [_scores(dbs, first["load_id"]), _scores(dbs, later["load_id"])]
    for dimension in DIMENSIONS:
        assert got[dimension]["elements"] == sum(s[dimension]["elements"] for s in both)
        assert got[dimension]["failed"] == sum(s[dimension]["failed"] for s in both)
        assert got[dimension]["loads"] == 2


def _cli(*args):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "baselib.cli", "quality", *args], capture_output=True, text=True,
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root / "plugins")}, timeout=180)


def test_the_scores_and_trend_commands_print_what_the_warehouse_holds(dbs, population):
    fill_source(dbs, rows=400, rates=HIGH_RATES)
    summary = run(population, DAY1)
    scores = _scores(dbs, summary["load_id"])

    done = _cli("scores", "--resource", population.code)
    assert done.returncode == 0, done.stderr
    assert population.provider.name in done.stdout and "规范性/normative" in done.stdout
    line = next(line for line in done.stdout.splitlines() if line.startswith(str(summary["load_id"]) + " "))
    assert f"{scores['overall']['score'] * 100:.2f}" in line and scores["overall"]["grade"] in line
    assert f"{scores['normative']['score'] * 100:.2f}" in line

    done = _cli("scores", "--provider", population.provider.code, "--period-kind", "month", "--period", "2026-11")
    assert done.returncode == 0, done.stderr
    normative = next(line for line in done.stdout.splitlines() if line.startswith("规范性/normative"))
    assert str(scores["normative"]["elements"]) in normative and str(scores["normative"]["failed"]) in normative

    bad = _cli("scores", "--provider", population.provider.code, "--period-kind", "month", "--period", "2026-13")
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and bad.stdout == ""
    unknown = _cli("trend", "--resource", "no_such_resource")
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: ")

    done = _cli("trend", "--resource", population.dag_id)
    assert done.returncode == 0, done.stderr
    page = Path(done.stdout.strip())
    assert page == Path(summary["report_path"]).parent.parent / "index.html" and page.is_file()
    assert f'href="load-{summary["load_id"]}/index.html"' in page.read_text(encoding="utf-8")


def test_each_delivered_file_is_an_accessible_element_and_a_rejected_file_fails_it(dbs, landing):
    from baselib_simulators import macro_economy
    from baselib_simulators.delivery import deliver
    from tests.integration.pipeline_helpers import catalog_entry

    macro_economy.write_indicators(landing)
    run(catalog_entry("base_macro_economy.indicator"), DAY1)
    folder = landing / "statistics" / "indicator_value"
    folder.mkdir(parents=True)
    header = "indicator_code,region_code,period,value,unit\n"
    deliver(folder / "good.csv", header + "A0201,360100,2024,1.5,亿元\nA0201,360200,2024,2.5,亿元\n", encoding="utf-8")
    deliver(folder / "cut_in_a_quote.csv", header + 'A0201,360100,2024,1,"亿', encoding="utf-8")
    deliver(folder / "scan.pdf", b"%PDF-1.7 not a data file")
    resource = catalog_entry("base_macro_economy.indicator_value")

    summary = run(resource, DAY1)

    statuses = dict(dbs.query("SELECT status, count(*) FROM ops.file_delivery WHERE load_id = %s GROUP BY status",
                              (summary["load_id"],)))
    delivered, rejected = sum(statuses.values()), statuses.get("rejected", 0)
    assert rejected >= 1 and statuses.get("loaded", 0) >= 1
    accessible = _scores(dbs, summary["load_id"])["accessible"]
    assert (accessible["elements"], accessible["failed"]) == (1 + delivered, rejected)
    assert accessible["score"] == pytest.approx(1 - rejected / (1 + delivered), abs=1e-6)



def test_a_later_file_drop_run_of_the_day_with_new_files_keeps_the_earlier_runs_files(dbs, landing):
    """A file drop is keyed by delivery: each run judged the files it found new, so a later run of
    the same day that found another file does not replace the earlier run's (rejected) files."""
    from baselib.evaluation import periods
    from baselib.warehouse import connections
    from baselib_simulators import macro_economy
    from baselib_simulators.delivery import deliver
    from tests.integration.pipeline_helpers import catalog_entry

    macro_economy.write_indicators(landing)
    indicators = run(catalog_entry("base_macro_economy.indicator"), DAY1)  # the same provider's other resource
    folder = landing / "statistics" / "indicator_value"
    folder.mkdir(parents=True)
    header = "indicator_code,region_code,period,value,unit\n"
    deliver(folder / "good.csv", header + "A0201,360100,2024,1.5,亿元\n", encoding="utf-8")
    deliver(folder / "scan.pdf", b"%PDF-1.7 not a data file")
    resource = catalog_entry("base_macro_economy.indicator_value")
    first = run(resource, DAY1)
    deliver(folder / "more.csv", header + "A0201,360200,2024,2.5,亿元\n", encoding="utf-8")
    second = run(resource, DAY1)
    assert (_scores(dbs, first["load_id"])["accessible"]["elements"],
            _scores(dbs, first["load_id"])["accessible"]["failed"]) == (3, 1)
    assert (_scores(dbs, second["load_id"])["accessible"]["elements"],
            _scores(dbs, second["load_id"])["accessible"]["failed"]) == (2, 0)

    with connections.transaction() as conn:
        got = scoring.provider_scores(conn, resource.provider.code, periods.containing("month", DAY1[1]))

    other = _scores(dbs, indicators["load_id"])["accessible"]
    assert (other["elements"], other["failed"]) == (2, 0)  # its one file, read
    assert (got["accessible"]["elements"], got["accessible"]["failed"], got["accessible"]["loads"]) == (7, 1, 3)
    assert got["accessible"]["score"] == round(1 - 1 / 7, 6)

# -- report samples: the catalog mask, exactly as the database applies it ------------------------------

_COMPOUND = ["欧阳", "司马", "诸葛", "百里"]


@pytest.fixture(scope="module")
def masking_sql(pg_server):
    """A cursor with include/sql/ddl/050_masking.sql applied in a transaction that is rolled back."""
    import psycopg2

    from baselib.settings import SQL_DIR

    conn = psycopg2.connect(pg_server)
    try:
        with conn.cursor() as cur:
            cur.execute((SQL_DIR / "ddl" / "050_masking.sql").read_text(encoding="utf-8"))
            yield cur
    finally:
        conn.rollback()
        conn.close()


def test_the_python_masking_rules_give_what_the_database_functions_give(masking_sql):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from baselib.security import masking

    han = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
    values = st.one_of(
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
        st.text(han, max_size=12),
        st.builds(lambda s, rest: s + rest, st.sampled_from(_COMPOUND), st.text(han, max_size=4)),
        st.text("0123456789X", min_size=8, max_size=20))

    @settings(max_examples=150, deadline=None)
    @given(st.sampled_from(sorted(masking.RULES)), values)
    def same(rule, value):
        masking_sql.execute(f"SELECT masking.{rule}(%s)", (value,))  # rule: one of masking.RULES
        assert masking.mask(rule, value) == masking_sql.fetchone()[0]

    same()
    assert masking.mask("name", None) is None and masking.mask(None, None) is None
    assert masking.mask(None, "1990-05-17") == masking.HIDDEN == "***"
    with pytest.raises(ValueError, match="unknown mask rule 'initials'"):
        masking.mask("initials", "张三")


def test_report_samples_mask_key_and_values_by_their_catalog_rule(population):
    """The samples of a check show a personal key (id_number: rule citizen_id) and personal values
    as the masked view would, a personal item without a rule as ***, other items as they are."""
    import datetime as dt

    import numpy as np
    import pandas as pd

    from baselib.validation.executor import CheckResult, Samples
    from baselib.validation.plan import Check

    frame = pd.DataFrame({"id_number": ["360102199001011234", "G1234567"], "name": ["欧阳娜娜", "李"],
                          "birth_date": [dt.date(1990, 1, 1), None], "sex": ["1", "2"],
                          "address": ["江西省南昌市东湖区八一大道1号", "南昌"]})
    check = Check(index=0, name="expect_compound_columns_to_be_unique", type="expect_compound_columns_to_be_unique",
                  kwargs={"column_list": ["name", "birth_date", "sex", "address"]}, severity="warning",
                  dimension="consistent", level="row", origin="suite", reason="review")
    result = CheckResult(check=check)

    Samples(population).take(result, frame, np.array([True, True]))

    assert result.samples == [
        {"key": "360102********1234",
         "values": {"name": "欧阳**", "birth_date": "***", "sex": "1", "address": "江西省南昌市****"}},
        {"key": "********", "values": {"name": "*", "birth_date": None, "sex": "2", "address": "****"}},
    ]
