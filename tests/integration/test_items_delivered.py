"""What a provider delivered (issue 12, fix-data): ``ops.load_run.items_delivered`` recorded at extract from
the Parquet parts' statistics, catalog completeness on it, the history simulator's data days and items, one
data-day rule (interval start, else logical date, else start day), and the periods the evaluation refuses."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from baselib import pipeline, storage
from baselib.catalog import load_catalog
from baselib.evaluation import indicators, periods
from baselib.quality import scoring
from baselib.records import sync_metrics
from baselib.warehouse import schema
from baselib_simulators import history
from tests.conftest import DAY1
from tests.integration.pipeline_helpers import fill_source

SHANGHAI = periods.TIMEZONE
NOVEMBER = periods.parse("month", "2026-11")
OCTOBER = periods.parse("month", "2026-10")
SIM_NOW = dt.datetime(2026, 12, 1, 2, tzinfo=SHANGHAI)   # every run up to data day 2026-11-30 has happened


def by_target(target: str):
    return next(r for r in load_catalog() if r.pipeline.target.qualified == target)


def cli(*args):
    env = {**os.environ, "PYTHONPATH": "plugins", "AIRFLOW_CONN_EVALUATION_API": "http://:fixdata-token@127.0.0.1:9/"}
    return subprocess.run([sys.executable, "-m", "baselib.cli", "evaluation", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def source_with_nulls(dbs, rows=300):
    """A defect-free population source where address is missing in every third row and ethnicity in all."""
    fill_source(dbs, rows=rows, rates={})
    dbs.query("UPDATE frontend.population_person SET address = NULL WHERE row_id % 3 = 0", db="source")
    dbs.query("UPDATE frontend.population_person SET ethnicity = NULL", db="source")


def source_counts(dbs, names):
    # catalog item names (validated identifiers), not input
    row = dbs.query(f"SELECT {', '.join(f'count({n})' for n in names)} FROM frontend.population_person", db="source")[0]
    return dict(zip(names, row))


def manual_run(population, interval, logical_date):
    info = pipeline.RunInfo(dag_id=population.dag_id, run_id=f"manual__{logical_date.isoformat()}",
                            logical_date=logical_date, data_interval_start=interval[0],
                            data_interval_end=interval[1])
    return pipeline.run(population, info)


# --- storage.non_null_counts ---------------------------------------------------------------------------


def test_non_null_counts_sum_the_row_group_statistics_of_every_part_without_reading_data(tmp_path, monkeypatch):
    writer = storage.PartWriter(f"file://{tmp_path}/parts")
    first = pa.table({"a": [1, None, 3, None, 5], "b": ["x", None, None, None, None], "_source_ref": ["r"] * 5})
    writer.write(first)
    pq.write_table(pa.table({"a": [None, 7], "b": pa.array([None, None], pa.string()), "_source_ref": [None, "s"]}),
                   f"{tmp_path}/parts/part-00001.parquet", row_group_size=1)   # two row groups
    parts = [*writer.parts, f"file://{tmp_path}/parts/part-00001.parquet"]

    def no_data(*args, **kwargs):
        raise AssertionError("non_null_counts read data, not only the footers")

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", no_data)
    monkeypatch.setattr(pq, "read_table", no_data)
    assert storage.non_null_counts(parts) == {"a": 4, "b": 1, "_source_ref": 6}
    assert storage.non_null_counts(parts, ["a", "b", "missing"]) == {"a": 4, "b": 1, "missing": 0}
    assert storage.non_null_counts([], ["a"]) == {"a": 0}
    monkeypatch.undo()
    # a chunk written without statistics (an untyped all-null column) is the one case read to count
    pq.write_table(pa.table({"n": pa.array([None, None])}), f"{tmp_path}/untyped.parquet")
    assert storage.non_null_counts([f"file://{tmp_path}/untyped.parquet"]) == {"n": 0}


# --- items_delivered and catalog completeness ------------------------------------------------------------


def test_items_delivered_of_a_population_load_equals_the_source_non_null_counts(dbs, population):
    source_with_nulls(dbs)
    summary = manual_run(population, DAY1, DAY1[0])
    assert summary["status"] == "success"
    names = [i.name for i in population.items]
    expected = source_counts(dbs, names)
    assert expected["ethnicity"] == 0 and expected["address"] == 200 and expected["id_number"] == 300
    got = dbs.scalar("SELECT items_delivered FROM ops.load_run WHERE load_id = %s", (summary["load_id"],))
    assert got == expected                     # every catalog item, no engine column (_source_row, ...)


def test_catalog_completeness_is_what_the_period_s_loads_delivered(dbs, population):
    source_with_nulls(dbs, rows=120)
    summary = manual_run(population, DAY1, DAY1[0])                  # data day 2026-11-01
    code = population.provider.code
    conn = dbs.warehouse()
    try:
        november = indicators.compute(conn, NOVEMBER, departments=[code], catalog=[population],
                                      as_of=NOVEMBER.bounds[1], now=NOVEMBER.bounds[1])
        october = indicators.compute(conn, OCTOBER, departments=[code], catalog=[population],
                                     as_of=OCTOBER.bounds[1], now=NOVEMBER.bounds[1])
    finally:
        conn.close()
    names = [i.name for i in population.items]
    filled = sum(1 for n in names if source_counts(dbs, names)[n] > 0)
    assert filled == len(names) - 1                                   # ethnicity never delivered
    got = november[0]["indicators"]["catalog_completeness"]
    assert got["value"] == round(filled / len(names), 6) and got["score"] == round(100 * round(filled / len(names), 6), 3)
    assert got["detail"]["resources"] == {population.code: {"items": len(names), "delivered": filled, "loads": 1}}
    # October: catalogued (published 2026-01-15) but no load in the period: delivers none of its items
    got = october[0]["indicators"]["catalog_completeness"]
    assert got["value"] == 0.0
    assert got["detail"]["resources"] == {population.code: {"items": len(names), "delivered": 0, "loads": 0}}

    # a load recorded before items_delivered existed: the rows it wrote to the warehouse stand in
    dbs.query("UPDATE ops.load_run SET items_delivered = NULL WHERE load_id = %s", (summary["load_id"],))
    written = dbs.scalar("SELECT count(*) FROM base_population.person_history WHERE _load_id = %s",
                         (summary["load_id"],))
    conn = dbs.warehouse()
    try:
        legacy = indicators.compute(conn, NOVEMBER, departments=[code], catalog=[population],
                                    as_of=NOVEMBER.bounds[1], now=NOVEMBER.bounds[1])
    finally:
        conn.close()
    got = legacy[0]["indicators"]["catalog_completeness"]
    assert got["detail"]["resources"] == {population.code: {"items": len(names), "delivered": filled, "loads": 1,
                                                            "unrecorded_loads": 1, "rows_written": written}}
    assert written == 120 - dbs.scalar("SELECT rows_quarantined FROM ops.load_run WHERE load_id = %s",
                                    (summary["load_id"],))


# --- the history simulator -------------------------------------------------------------------------------


def test_simulated_history_covers_its_data_days_and_delivers_all_but_one_nullable_item(dbs):
    population = by_target("base_population.person")                  # 每日
    monthly = by_target("base_macro_economy.indicator_value")         # 每月
    assert history.undelivered_item(load_catalog()) == (population.code, "ethnicity")
    conn = dbs.warehouse()
    try:
        history.simulate(conn, dt.date(2026, 10, 1), dt.date(2026, 11, 1), seed=3, catalog=[population, monthly],
                         now=SIM_NOW)
        days = {code: sorted(d for d in dbs.query(
                    "SELECT (data_interval_start AT TIME ZONE 'Asia/Shanghai')::date FROM ops.load_run "
                    "WHERE resource_code = %s", (code,)))
                for code in (population.code, monthly.code)}
        assert [d for (d,) in days[population.code]] == [dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(31)]
        assert [d for (d,) in days[monthly.code]] == [dt.date(2026, 10, 1)]
        assert dbs.scalar("SELECT max(data_interval_end) FROM ops.load_run WHERE resource_code = %s",
                          (population.code,)) == dt.datetime(2026, 11, 1, tzinfo=SHANGHAI)   # the run for Oct 31
        # items: every item of every run, but the population's ethnicity (nullable) never
        for code, items, resource in dbs.query("SELECT resource_code, items_delivered, resource_code FROM ops.load_run"):
            catalogued = (population if code == population.code else monthly).items
            assert set(items) == {i.name for i in catalogued}
            for item in catalogued:
                assert (items[item.name] == 0) is (code == population.code and item.name == "ethnicity")
        rows = {r["department_code"]: r for r in indicators.compute(
            conn, OCTOBER, catalog=[population, monthly], as_of=OCTOBER.bounds[1], now=NOVEMBER.bounds[1])}
        names = len(population.items)
        assert rows[population.provider.code]["indicators"]["catalog_completeness"]["value"] == round((names - 1) / names, 6)
        assert rows[monthly.provider.code]["indicators"]["catalog_completeness"]["value"] == 1.0

        # a zombie's date is the last data day it delivers
        history.simulate(conn, dt.date(2026, 10, 1), dt.date(2026, 11, 1), seed=3, catalog=[population, monthly],
                         zombies={population.code: dt.date(2026, 10, 20)}, now=SIM_NOW)
    finally:
        conn.close()
    assert dbs.query("SELECT min(data_interval_start), max(data_interval_start), count(*) FROM ops.load_run "
                     "WHERE resource_code = %s", (population.code,))[0] == (
        dt.datetime(2026, 10, 1, tzinfo=SHANGHAI), dt.datetime(2026, 10, 20, tzinfo=SHANGHAI), 20)


# --- one data-day rule -------------------------------------------------------------------------------------


def test_a_manual_run_s_data_day_is_its_interval_start_not_its_logical_date(dbs, population):
    """``airflow dags test <daily dag> 2026-11-01`` (local): logical date Nov 1, interval [Oct 31, Nov 1):
    its data day is Oct 31 — October's load, for the indicators and the quality scores alike."""
    fill_source(dbs, rows=60, rates={})
    interval = (DAY1[0] - dt.timedelta(days=1), DAY1[0])              # [Oct 31, Nov 1) local
    summary = manual_run(population, interval, DAY1[0])               # logical date Nov 1 00:00 local
    assert summary["status"] == "success"
    code = population.provider.code
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        with conn.cursor() as cur:
            october = indicators.counted_loads(cur, *OCTOBER.bounds, code)
            november = indicators.counted_loads(cur, *NOVEMBER.bounds, code)
        scores = {p.label: scoring.provider_scores(conn, code, p) for p in (OCTOBER, NOVEMBER)}
    finally:
        conn.close()
    assert [(load["load_id"], load["data_day"], load["month"]) for load in october] == [
        (summary["load_id"], dt.date(2026, 10, 31), "2026-10")]
    assert november == []
    assert scores["2026-10"]["accessible"]["loads"] == 1 and scores["2026-11"]["accessible"]["loads"] == 0


def test_without_an_interval_the_data_day_is_the_logical_date_else_the_start_day(dbs, population):
    conn = dbs.warehouse()
    try:
        from baselib.catalog.publish import publish

        schema.ensure(conn, [population])
        publish(conn, population)
        ids = []
        for n, (logical, started) in enumerate((
                (dt.datetime(2026, 11, 30, 23, tzinfo=SHANGHAI), dt.datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI)),
                (None, dt.datetime(2026, 10, 31, 23, 30, tzinfo=SHANGHAI)))):
            with conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO ops.load_run (resource_code, dag_id, run_id, logical_date, mode, status, started_at, "
                    "finished_at, rows_extracted, rows_inserted, rows_updated, rows_unchanged, rows_quarantined, "
                    "rows_deleted, rows_warned, files_new, files_unchanged, files_rejected) VALUES (%s, %s, %s, %s, "
                    "'full', 'success', %s, %s, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0) RETURNING load_id",
                    (population.code, population.dag_id, f"manual__{n}", logical, started,
                     started + dt.timedelta(minutes=40)))
                ids.append(cur.fetchone()[0])
            sync_metrics.record(conn, ids[-1], population.update_cycle, started)
        conn.commit()
        with conn.cursor() as cur:
            loads = {p.label: [(load["load_id"], load["data_day"]) for load in
                               indicators.counted_loads(cur, *p.bounds, population.provider.code)]
                     for p in (OCTOBER, NOVEMBER)}
    finally:
        conn.close()
    assert loads == {"2026-10": [(ids[1], dt.date(2026, 10, 31))], "2026-11": [(ids[0], dt.date(2026, 11, 30))]}


# --- refused periods -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, label", [("month", "2027-05"), ("year", "1999"), ("quarter", "1999Q4")])
def test_compute_refuses_a_future_period_or_one_before_2000_and_stores_nothing(dbs, kind, label):
    period = periods.parse(kind, label)
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        with pytest.raises(ValueError, match="after now|before 2000"):
            indicators.compute(conn, period)
        conn.rollback()
    finally:
        conn.close()
    done = cli("compute", "--period-kind", kind, "--period", label)
    assert done.returncode == 1 and done.stderr.startswith("error: "), (done.stdout, done.stderr)
    done = cli("publish", "--period-kind", kind, "--period", label)
    assert done.returncode == 1 and done.stderr.startswith("error: "), (done.stdout, done.stderr)
    assert "after now" in done.stderr or "before 2000" in done.stderr
    assert dbs.scalar("SELECT count(*) FROM evaluation.indicator") == 0
    assert dbs.scalar("SELECT count(*) FROM evaluation.publish_attempt") == 0
    assert "fixdata-token" not in done.stdout + done.stderr


def test_compute_accepts_the_current_period_and_2000(dbs):
    population = by_target("base_population.person")
    now = dt.datetime(2026, 11, 30, 12, tzinfo=SHANGHAI)
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        for period in (NOVEMBER, periods.parse("year", "2000")):
            indicators.check_period(period, now)
            assert indicators.compute(conn, period, catalog=[population], now=now)
        with pytest.raises(ValueError, match="after now"):
            indicators.check_period(periods.parse("month", "2026-12"), now)
    finally:
        conn.close()


def test_publish_of_an_unknown_department_of_a_stored_period_says_so(dbs):
    population = by_target("base_population.person")
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        indicators.compute(conn, OCTOBER, catalog=[population], now=NOVEMBER.bounds[1])
    finally:
        conn.close()
    done = cli("publish", "--period-kind", "month", "--period", "2026-10", "--department", "NOPE")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: unknown department(s) NOPE")
    assert "run `evaluation compute`" not in done.stderr
    assert dbs.scalar("SELECT count(*) FROM evaluation.publish_attempt") == 0


def test_a_file_drop_load_records_what_its_files_delivered_per_catalog_item_only(dbs, landing):
    """File drops record items_delivered too: catalog items only, never lineage columns such as
    ``_source_ref`` / ``_delivery_id``; a key item holds a value in every row read that has one."""
    from baselib_simulators import macro_economy as sim
    from tests.integration.pipeline_helpers import catalog_entry, run

    resource = catalog_entry("base_macro_economy.indicator")
    sim.write_drop(landing, seed=11)
    summary = run(resource, DAY1)
    items, extracted = dbs.query("SELECT items_delivered, rows_extracted FROM ops.load_run WHERE load_id = %s",
                                 (summary["load_id"],))[0]
    assert set(items) == {i.name for i in resource.items}
    assert extracted > 0 and all(0 <= n <= extracted for n in items.values())
    key = next(i.name for i in resource.items if i.key)
    assert 0 < items[key] <= extracted
