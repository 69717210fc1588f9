"""Review of issue 12 (quality area): failing tests that pin defects found in review."""
from __future__ import annotations

import datetime as dt

from baselib import pipeline
from baselib.records.sync_metrics import CYCLE_SECONDS
from baselib_simulators.delivery import deliver
from tests.conftest import DAY1, DAY2
from tests.integration.pipeline_helpers import catalog_entry, change_source, fill_source, run

VALUES = "104001/000002"
HEADER = "indicator_code,region_code,period,value,unit\n"
PREFECTURES = ["360100", "360200", "360300", "360400", "360500", "360600", "360700", "360800", "360900",
               "361000", "361100"]


def _good_rows(n: int, year: int = 2024) -> str:
    return "".join(f"A0201,{PREFECTURES[i % 11]},{year - i // 11},{100 + i}.5,亿元\n" for i in range(n))


def _score(dbs, load_id, dimension):
    return dbs.query("SELECT elements, failed FROM evaluation.quality_score WHERE load_id = %s AND dimension = %s",
                     (load_id, dimension))[0]


def test_a_readable_file_sent_back_for_its_rows_is_not_an_accessible_failure(dbs, landing):
    """scoring.yaml: accessible is one element per delivered file, "an unreadable file is a failure".
    A file that was read fine but sent back whole because too many of its rows failed critical checks
    is a quality (normative/accurate) failure of its rows, already counted there - not an
    accessibility failure of the provider's source."""
    from baselib_simulators import macro_economy as sim

    sim.write_indicators(landing)
    run(catalog_entry("base_macro_economy.indicator"), DAY1)
    folder = landing / "statistics" / "indicator_value"
    folder.mkdir(parents=True)
    deliver(folder / "good.csv", HEADER + _good_rows(10), encoding="utf-8")
    bad_rows = "".join(f"A0201,36{90 + i:02d}00,2024,1,亿元\n" for i in range(4))  # unknown regions
    deliver(folder / "mostly_bad.csv", HEADER + bad_rows + _good_rows(1, year=2020), encoding="utf-8")

    summary = run(catalog_entry("base_macro_economy.indicator_value"), DAY1)

    statuses = dict(dbs.query("SELECT path, status FROM ops.file_delivery WHERE load_id = %s",
                              (summary["load_id"],)))
    assert sorted(statuses.values()) == ["loaded", "rejected"]  # mostly_bad.csv: read, then sent back whole
    # two files delivered and both read: 1 (the run) + 2 elements, none failed
    assert _score(dbs, summary["load_id"], "accessible") == (3, 0)


def _run(resource, run_id, interval):
    info = pipeline.RunInfo(dag_id=resource.dag_id, run_id=run_id, logical_date=interval[0],
                            data_interval_start=interval[0], data_interval_end=interval[1])
    return pipeline.run(resource, info)


def test_a_backfill_of_a_quiet_day_is_judged_on_the_data_the_provider_had_by_that_day(dbs, population):
    """"Timeliness is judged on when the provider delivered relative to its update cycle. When the
    platform loads data, as in a backfill, is not the provider's delay." - nor its merit: a backfill
    of a day on which the provider changed nothing must be judged as the scheduled run of that day
    would have been (newest data by that day), not with the watermark of later days the platform
    happened to have loaded before the backfill ran."""
    changed_at = DAY1[1] - dt.timedelta(hours=3)
    fill_source(dbs, rows=300)
    change_source(dbs, at=changed_at, new=5, changed=5)
    _run(population, f"scheduled__{DAY1[0].isoformat()}", DAY1)
    # five days later the provider changes rows again and the platform loads them
    later = (DAY1[0] + dt.timedelta(days=5), DAY1[1] + dt.timedelta(days=5))
    change_source(dbs, at=later[1] - dt.timedelta(hours=2), new=3, changed=3, seed=9)
    _run(population, f"scheduled__{later[0].isoformat()}", later)

    # DAY2 was missed and is backfilled now; the provider changed nothing during DAY2
    summary = _run(population, f"backfill__{DAY2[0].isoformat()}", DAY2)

    m = dict(zip(("judged_at", "newest", "lag", "within"), dbs.query(
        "SELECT judged_at, newest_source_update, timeliness_lag_seconds, within_update_cycle "
        "FROM evaluation.sync_metrics WHERE load_id = %s", (summary["load_id"],))[0]))
    assert m["judged_at"] == DAY2[1]
    assert m["newest"] == changed_at                      # the newest data the provider had by DAY2
    assert m["lag"] == (DAY2[1] - changed_at).total_seconds() > CYCLE_SECONDS[population.update_cycle]
    assert m["within"] is False
    assert _score(dbs, summary["load_id"], "timely") == (1, 1)



def test_a_check_the_suite_maps_to_timely_or_accessible_still_counts_in_the_scores():
    """Issue: "Every expectation ... is mapped to one of the six dimensions"; the plan accepts
    ``meta.dimension: timely`` / ``accessible`` on an expectation (plan.DIMENSIONS) and the report
    counts it there (meta.dimensions), but score_load reads only the four "check" dimensions from the
    validation result, so such a check's failures vanish from every score. A failing check must
    count in the dimension it is mapped to (or the plan must refuse the mapping)."""
    from baselib.quality import scoring

    empty = {"checks": 0, "elements": 0, "failed": 0}
    result = {"meta": {"dimensions": {
        "normative": {"checks": 1, "elements": 100, "failed": 0}, "complete": empty, "accurate": empty,
        "consistent": empty,
        "timely": {"checks": 1, "elements": 100, "failed": 40},       # e.g. "record updated within 30 days"
        "accessible": {"checks": 1, "elements": 1, "failed": 1}}}}
    facts = {"extract_failed": False, "files_delivered": 0, "files_rejected": 0, "within_update_cycle": True}

    got = scoring.run_elements(facts, result)

    assert (got["timely"]["elements"], got["timely"]["failed"]) == (101, 40)
    assert (got["accessible"]["elements"], got["accessible"]["failed"]) == (2, 1)


def _quality_cli(*args, env=None):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "baselib.cli", "quality", *args], capture_output=True, text=True,
                          cwd=root, timeout=300, env={**os.environ, "PYTHONPATH": str(root / "plugins"), **(env or {})})


def test_export_to_an_output_that_cannot_be_written_is_a_clear_error(dbs, population, tmp_path):
    """Standard: bad input gives a clear ``error: …`` and exit 1, nothing written - not a traceback."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    env = {"BASELIB_REPORTS_DIR": str(tmp_path / "reports")}

    done = _quality_cli("export", "--provider", population.provider.code, "--output",
                        str(blocker / "returns.xlsx"), env=env)

    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder"]


def test_report_samples_reveal_no_more_of_a_personal_item_than_its_catalog_mask(population):
    """Standard: personal data masked wherever shown to anyone but its provider; the quality report
    is read by quality officers. Its samples use an ad-hoc rule (first 3 and last 2 characters)
    instead of the item's catalog mask (include/sql/ddl/050_masking.sql, what every masked view
    shows), so a long name, the end of an address (house number) and most of a birth date - a
    personal item with no mask rule, which the masked views leave out entirely - appear in the
    report. The report must show no more than the masked view does."""
    from baselib.validation.executor import Samples

    samples = Samples(population)

    assert samples._show("name", "阿卜杜热合曼买买提") == "阿********"            # masking.name
    assert samples._show("address", "江西省南昌市东湖区八一大道123号") == "江西省南昌市****"  # masking.address
    birth = samples._show("birth_date", "1990-05-17")                         # personal, no mask rule
    assert birth is None or not any(ch.isdigit() for ch in str(birth)), birth


def test_a_later_run_of_the_same_day_that_delivers_nothing_does_not_erase_a_rejected_file(dbs, landing):
    """provider_scores keeps only the latest load per resource and data day, meant so that "a rerun
    or a backfill replaces, never doubles, its day". But a second run of a file drop on the same
    day (a manual run, or the scheduled run after an operator's run) does not re-judge what the first
    one loaded: it finds no new file. Taking only it erases the first run's unreadable file (and its
    rejected rows) from the provider's period score - the provider's day looks perfect."""
    from baselib.evaluation import periods
    from baselib.quality import scoring
    from baselib.warehouse import connections
    from baselib_simulators import macro_economy as sim

    sim.write_indicators(landing)
    run(catalog_entry("base_macro_economy.indicator"), DAY1)
    folder = landing / "statistics" / "indicator_value"
    folder.mkdir(parents=True)
    deliver(folder / "good.csv", HEADER + _good_rows(5), encoding="utf-8")
    deliver(folder / "cut_in_a_quote.csv", HEADER + 'A0201,360100,2024,1,"亿', encoding="utf-8")
    values = catalog_entry("base_macro_economy.indicator_value")
    first = run(values, DAY1)
    assert _score(dbs, first["load_id"], "accessible") == (3, 1)
    second = run(values, DAY1)                                  # same day, nothing new delivered
    assert _score(dbs, second["load_id"], "accessible") == (1, 0)

    with connections.transaction() as conn:
        got = scoring.provider_scores(conn, values.provider.code, periods.containing("month", DAY1[1]))

    assert got["accessible"]["failed"] == 1          # the unreadable file still counts against the provider
    assert got["accessible"]["score"] < 1
