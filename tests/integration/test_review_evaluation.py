"""Reviewer tests for issue 12, evaluation area: each asserts the RIGHT behaviour and fails now."""
from __future__ import annotations

import datetime as dt


from baselib.catalog import load_catalog
from baselib.evaluation import indicators, periods
from baselib.records import sync_metrics
from baselib.warehouse import schema
from baselib_simulators import history

SHANGHAI = periods.TIMEZONE
NOVEMBER = periods.parse("month", "2026-11")
PERIOD_END = NOVEMBER.bounds[1]


def by_target(target: str):
    return next(r for r in load_catalog() if r.pipeline.target.qualified == target)


def local(y, m, d, h=0, minute=0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=SHANGHAI)


def flagged(rows, flag: str) -> dict[str, dict]:
    return {entry["resource_code"]: entry for row in rows for entry in row["flags"][flag]}


def test_a_backfill_of_an_old_day_does_not_revive_a_zombie(dbs):
    """The issue: "zombie resources (no delivery for more than N update cycles)" and "When the platform
    loads data, as in a backfill, is not the provider's delay". A provider silent since Nov 26 stays
    silent when the platform, on Nov 30, backfills the data day Nov 20 (data the provider delivered
    long ago): the flag must judge the provider's deliveries, not the platform's load time."""
    population = by_target("base_population.person")
    conn = dbs.warehouse()
    try:
        history.simulate(conn, dt.date(2026, 10, 1), dt.date(2026, 12, 1), seed=5, catalog=[population],
                         zombies={population.code: dt.date(2026, 11, 26)})
        before = indicators.compute(conn, NOVEMBER, catalog=[population], as_of=PERIOD_END, now=PERIOD_END)
        assert population.code in flagged(before, "zombie_resources")

        # an operator backfills data day 2026-11-20 on Nov 30 (a run that had failed, say)
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ops.load_run (resource_code, dag_id, run_id, logical_date, data_interval_start, "
                "data_interval_end, mode, status, started_at, finished_at, rows_extracted, rows_inserted, rows_updated, "
                "rows_unchanged, rows_quarantined, rows_deleted, rows_warned, files_new, files_unchanged, files_rejected) "
                "VALUES (%s, %s, %s, %s, %s, %s, 'incremental', 'success', %s, %s, 10, 3, 0, 7, 0, 0, 0, 0, 0, 0) "
                "RETURNING load_id",
                (population.code, population.dag_id, "backfill__2026-11-19T16:00:00+00:00", local(2026, 11, 20),
                 local(2026, 11, 20), local(2026, 11, 21), local(2026, 11, 30, 10), local(2026, 11, 30, 10, 5)))
            load_id = cur.fetchone()[0]
        sync_metrics.record(conn, load_id, population.update_cycle, local(2026, 11, 20, 18))
        conn.commit()
        after = indicators.compute(conn, NOVEMBER, catalog=[population], as_of=PERIOD_END, now=PERIOD_END)
    finally:
        conn.close()
    zombie = flagged(after, "zombie_resources")
    assert population.code in zombie, "a backfill of an old data day made a silent provider look alive"
    assert zombie[population.code]["cycles_missed"] == flagged(before, "zombie_resources")[population.code][
        "cycles_missed"]


def test_unused_flags_are_not_raised_when_use_was_not_measured_at_all(dbs):
    """measured_use is "not applicable when the platform measured no use at all in the period"; the
    never-used flag ("resources nobody has used in the period") must not then claim every shared
    resource was unused: nothing was measured, so nothing is known."""
    population = by_target("base_population.person")
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        rows = indicators.compute(conn, NOVEMBER, catalog=[population], as_of=PERIOD_END, now=PERIOD_END)
    finally:
        conn.close()
    assert dbs.scalar("SELECT count(*) FROM evaluation.sharing_usage") == 0
    row = next(r for r in rows if r["department_code"] == population.provider.code)
    assert row["flags"]["unused_resources"] == []


def test_catalog_completeness_counts_a_catalogued_resource_that_was_never_delivered(dbs, population):
    """Catalog completeness is "catalogued items that are actually delivered". A provider with two
    catalogued resources, one loaded and one never delivered (no warehouse table yet), has delivered
    none of the second one's items: they belong in the denominator."""
    from tests.conftest import DAY1
    from tests.integration.pipeline_helpers import fill_source, run

    fill_source(dbs, rows=50)
    assert run(population, DAY1)["status"] == "success"
    other = by_target("base_macro_economy.indicator_value")
    never = other.model_copy(update={"code": "999999/000001", "provider": population.provider})
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        current = periods.containing("month", dt.datetime.now(dt.timezone.utc))
        rows = indicators.compute(conn, current, departments=[population.provider.code], catalog=[population, never])
    finally:
        conn.close()
    got = rows[0]["indicators"]["catalog_completeness"]
    delivered = got["detail"]["resources"][population.code]["delivered"]
    items = len(population.items) + len(never.items)
    assert got["detail"]["items"] == items
    assert got["value"] == round(delivered / items, 6)


def test_yearly_report_timeliness_by_month_counts_a_rerun_day_once_as_the_indicator_does(dbs):
    """The yearly report's "timeliness by month" chart and the year's timeliness indicator printed in the
    same report must agree: the indicator counts the latest load per resource and data day (a rerun or
    a backfill replaces its day), the report's monthly rows count every load, so a late day that was
    rerun counts twice against the provider in the report (and its rows are counted as delivered twice)."""
    from baselib.evaluation import yearly_report

    population = by_target("base_population.person")
    conn = dbs.warehouse()
    try:
        history.simulate(conn, dt.date(2025, 11, 1), dt.date(2025, 12, 1), seed=7, catalog=[population])
        # rerun (manual) of data day 2025-11-10: the provider's data was stale then (late)
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ops.load_run (resource_code, dag_id, run_id, logical_date, data_interval_start, "
                "data_interval_end, mode, status, started_at, finished_at, rows_extracted, rows_inserted, rows_updated, "
                "rows_unchanged, rows_quarantined, rows_deleted, rows_warned, files_new, files_unchanged, files_rejected) "
                "VALUES (%s, %s, %s, %s, %s, %s, 'incremental', 'success', %s, %s, 10, 0, 0, 10, 0, 0, 0, 0, 0, 0) "
                "RETURNING load_id",
                (population.code, population.dag_id, "manual__2025-11-10T02:00:00+00:00", local(2025, 11, 10),
                 local(2025, 11, 10), local(2025, 11, 11), local(2025, 11, 11, 9), local(2025, 11, 11, 9, 5)))
            load_id = cur.fetchone()[0]
        sync_metrics.record(conn, load_id, population.update_cycle, local(2025, 11, 1))
        conn.commit()
        month = periods.parse("month", "2025-11")
        indicator = indicators.compute(conn, month, departments=[population.provider.code], catalog=[population],
                                       as_of=month.bounds[1], now=month.bounds[1])[0]["indicators"]["timeliness"]
        ctx = yearly_report.context(conn, 2025, population.provider.code)
    finally:
        conn.close()
    november = next(m for m in ctx["sharing"]["months"] if m["month"] == "2025-11")
    assert november["judged"] == indicator["detail"]["judged"]
    assert round(november["timeliness"], 6) == indicator["value"]


def test_a_resource_not_yet_catalogued_in_the_period_is_not_flagged_never_used(dbs):
    """The never-used flag is "resources nobody has used in the period". The population resource was
    published in the catalog on its publish date (2026-01-15): in November 2025 it did not exist on the
    platform, so nobody could use it and it must not be flagged (use was measured that month)."""
    population = by_target("base_population.person")
    assert population.publish_date > dt.date(2025, 12, 1)
    month = periods.parse("month", "2025-11")
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        with conn.cursor() as cur:   # use was measured in November 2025 (a collection ran)
            cur.execute("INSERT INTO sharing.usage_collection (collected_at, usage_date, reset_detected, statements, "
                        "counted, skipped, usage_rows) VALUES (%s, %s, false, 0, 0, 0, 0)",
                        (local(2025, 11, 11, 1), dt.date(2025, 11, 10)))
        conn.commit()
        rows = indicators.compute(conn, month, catalog=[population], as_of=month.bounds[1], now=month.bounds[1])
    finally:
        conn.close()
    row = next(r for r in rows if r["department_code"] == population.provider.code)
    assert row["flags"]["unused_resources"] == []


def test_the_history_simulator_never_writes_runs_or_use_in_the_future(dbs):
    """It simulates "history, as the engine would have recorded it" (and already keeps applications
    before today). A range that reaches past today must not record finished runs, deliveries or
    measured use that have not happened: they would count in the current month's indicators and hide
    zombies (a "last delivery" in the future)."""
    population = by_target("base_population.person")
    today = dt.datetime.now(SHANGHAI).date()
    conn = dbs.warehouse()
    try:
        history.simulate(conn, today - dt.timedelta(days=5), today + dt.timedelta(days=10), seed=2,
                         catalog=[population])
    finally:
        conn.close()
    now = dt.datetime.now(dt.timezone.utc)
    assert dbs.scalar("SELECT count(*) FROM ops.load_run WHERE finished_at > %s", (now,)) == 0
    assert dbs.scalar("SELECT count(*) FROM evaluation.sync_metrics WHERE loaded_at > %s", (now,)) == 0
    assert dbs.scalar("SELECT count(*) FROM evaluation.sharing_usage WHERE usage_date > %s", (today,)) == 0


def test_yearly_report_puts_a_manual_run_started_2330_on_the_last_day_in_the_same_month_as_the_indicator(dbs):
    """A manual run (Airflow 3: no logical date) that starts at 23:30 local on 30 November and finishes
    after midnight. The timeliness indicator puts it in November (the data day is "the day it
    started"); the yearly report's timeliness-by-month and volumes must agree with it, not move the load
    into December by its load time."""
    from baselib.evaluation import yearly_report

    population = by_target("base_population.person")
    conn = dbs.warehouse()
    try:
        history.simulate(conn, dt.date(2025, 11, 1), dt.date(2025, 11, 20), seed=7, catalog=[population])
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ops.load_run (resource_code, dag_id, run_id, logical_date, data_interval_start, "
                "data_interval_end, mode, status, started_at, finished_at, rows_extracted, rows_inserted, rows_updated, "
                "rows_unchanged, rows_quarantined, rows_deleted, rows_warned, files_new, files_unchanged, files_rejected) "
                "VALUES (%s, %s, %s, NULL, NULL, NULL, 'incremental', 'success', %s, %s, 10, 4, 0, 6, 0, 0, 0, 0, 0, 0) "
                "RETURNING load_id",
                (population.code, population.dag_id, "manual__2025-11-30T15:30:00+00:00", local(2025, 11, 30, 23, 30),
                 local(2025, 12, 1, 0, 20)))
            load_id = cur.fetchone()[0]
        sync_metrics.record(conn, load_id, population.update_cycle, local(2025, 11, 30, 12))
        conn.commit()
        month = periods.parse("month", "2025-11")
        indicator = indicators.compute(conn, month, departments=[population.provider.code], catalog=[population],
                                       as_of=month.bounds[1], now=month.bounds[1])[0]["indicators"]["timeliness"]
        ctx = yearly_report.context(conn, 2025, population.provider.code)
    finally:
        conn.close()
    by_month = {m["month"]: m for m in ctx["sharing"]["months"]}
    assert by_month["2025-11"]["loads"] == indicator["detail"]["loads"]
    assert by_month["2025-12"]["loads"] == 0


def test_yearly_platform_ranking_is_not_limited_to_the_departments_someone_happened_to_compute(dbs):
    """The yearly report's ranking ranks every department. When the year's indicators were stored for
    one department only (``evaluation compute --period-kind year --department X``), the report takes
    the stored rows as the whole year and ranks X alone: the legal-entity provider, with a year of
    loads, is left out of the platform ranking."""
    from baselib.evaluation import yearly_report

    population = by_target("base_population.person")
    legal_entity = by_target("base_legal_entity.legal_entity")
    assert population.provider.code != legal_entity.provider.code
    year = periods.parse("year", "2025")
    conn = dbs.warehouse()
    try:
        history.simulate(conn, dt.date(2025, 11, 1), dt.date(2025, 12, 1), seed=9, catalog=[population, legal_entity])
        indicators.compute(conn, year, departments=[population.provider.code], catalog=[population, legal_entity],
                           as_of=year.bounds[1], now=year.bounds[1])
        ctx = yearly_report.context(conn, 2025, None)
    finally:
        conn.close()
    ranked = {r["code"] for r in ctx["evaluation"]["ranking"]}
    assert population.provider.code in ranked
    assert legal_entity.provider.code in ranked


def test_cli_publish_of_a_period_with_nothing_computed_is_an_error(dbs):
    """``evaluation publish --period 2025-11`` when nothing was computed for it publishes nothing; the
    standard for bad input is a clear ``error: …`` and exit 1 (as ``evaluation show`` does for the same
    period), not exit 0 — a script or an operator would take the publish as done."""
    import os
    import subprocess
    import sys

    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
    finally:
        conn.close()
    env = {**os.environ, "PYTHONPATH": "plugins", "AIRFLOW_CONN_EVALUATION_API": "http://:review-token@127.0.0.1:9/"}
    done = subprocess.run([sys.executable, "-m", "baselib.cli", "evaluation", "publish", "--period", "2025-11"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ")
    assert "review-token" not in done.stdout + done.stderr
