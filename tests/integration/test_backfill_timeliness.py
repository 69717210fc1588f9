"""Timeliness is judged at the run's own data day (issue 12: "Backfilled runs count as late").

The provider (the simulated public-security source) changes rows during DAY1; the population resource
is updated daily (86 400 s). Every run below executes today, long after its day."""
from __future__ import annotations

import datetime as dt

from baselib import pipeline
from baselib.records.sync_metrics import CYCLE_SECONDS
from tests.conftest import DAY1, UTC
from tests.integration.pipeline_helpers import change_source, fill_source

CHANGED_AT = DAY1[1] - dt.timedelta(hours=3)   # the provider's update on DAY1



def _run(resource, run_id, interval, logical_date=None):
    info = pipeline.RunInfo(dag_id=resource.dag_id, run_id=run_id,
                            logical_date=logical_date if logical_date is not None else interval[0],
                            data_interval_start=interval[0] if interval else None,
                            data_interval_end=interval[1] if interval else None)
    return pipeline.run(resource, info)


def _metrics(dbs, load_id):
    names = ("judged_at", "loaded_at", "newest_source_update", "timeliness_lag_seconds", "within_update_cycle",
             "run_type")
    row = dbs.query(f"SELECT {', '.join(names)} FROM evaluation.sync_metrics WHERE load_id = %s", (load_id,))[0]
    return dict(zip(names, row))


def _timely(dbs, load_id):
    return dbs.query("SELECT elements, failed FROM evaluation.quality_score WHERE load_id = %s "
                     "AND dimension = 'timely'", (load_id,))[0]


def test_a_backfill_of_a_past_day_is_judged_at_that_day(dbs, population):
    fill_source(dbs, rows=300)
    change_source(dbs, at=CHANGED_AT, new=5, changed=5)
    newest = dbs.scalar("SELECT max(updated_at) FROM frontend.population_person", db="source")
    assert newest == CHANGED_AT
    cycle = CYCLE_SECONDS[population.update_cycle]
    summary = _run(population, "backfill__2026-10-31T16:00:00+00:00", DAY1)

    m = _metrics(dbs, summary["load_id"])
    assert m["run_type"] == "backfill"
    assert m["loaded_at"] > DAY1[1] + dt.timedelta(days=7)       # it ran long after its day
    assert m["judged_at"] == DAY1[1]                              # judged at its own day
    assert m["newest_source_update"] == newest
    lag = (DAY1[1] - newest).total_seconds()
    assert m["timeliness_lag_seconds"] == lag and lag <= cycle
    assert m["within_update_cycle"] is True
    assert _timely(dbs, summary["load_id"]) == (1, 0)


def test_the_same_data_judged_a_cycle_later_is_late_even_when_the_run_is_on_time(dbs, population):
    fill_source(dbs, rows=300)
    change_source(dbs, at=CHANGED_AT, new=5, changed=5)
    newest = dbs.scalar("SELECT max(updated_at) FROM frontend.population_person", db="source")
    assert newest == CHANGED_AT
    cycle = CYCLE_SECONDS[population.update_cycle]
    _run(population, "backfill__2026-10-31T16:00:00+00:00", DAY1)
    # two days on the provider has changed nothing: a run on time, judged at its day, finds old data
    later = (DAY1[0] + dt.timedelta(days=2), DAY1[1] + dt.timedelta(days=2))
    summary = _run(population, f"scheduled__{later[0].isoformat()}", later)

    m = _metrics(dbs, summary["load_id"])
    assert m["run_type"] == "scheduled" and m["judged_at"] == later[1]
    assert m["newest_source_update"] == newest
    assert m["timeliness_lag_seconds"] == (later[1] - newest).total_seconds() > cycle
    assert m["within_update_cycle"] is False
    assert _timely(dbs, summary["load_id"]) == (1, 1)


def test_a_rerun_of_an_old_scheduled_run_and_a_manual_run_of_a_past_day_are_judged_at_their_day(dbs, population):
    fill_source(dbs, rows=300)
    change_source(dbs, at=CHANGED_AT, new=5, changed=5)
    newest = dbs.scalar("SELECT max(updated_at) FROM frontend.population_person", db="source")
    assert newest == CHANGED_AT
    rerun = _run(population, f"scheduled__{DAY1[0].isoformat()}", DAY1)
    # a manual run with a past logical date and no data interval
    manual_day = DAY1[1] + dt.timedelta(hours=6)
    manual = _run(population, f"manual__{manual_day.isoformat()}", None, logical_date=manual_day)

    r, m = _metrics(dbs, rerun["load_id"]), _metrics(dbs, manual["load_id"])
    assert (r["run_type"], r["judged_at"], r["within_update_cycle"]) == ("scheduled", DAY1[1], True)
    assert (m["run_type"], m["judged_at"]) == ("manual", manual_day)
    assert m["timeliness_lag_seconds"] == (manual_day - newest).total_seconds()
    assert m["within_update_cycle"] is True
    assert m["loaded_at"] > dt.datetime(2026, 11, 10, tzinfo=UTC)


FILE_HEADER = "indicator_code,region_code,period,value,unit\n"


def _deliver(folder, name, rows, period, at):
    import os

    from baselib_simulators.delivery import deliver

    body = "".join(f"A0201,360{100 + 100 * i},{period},{100 + i}.5,亿元\n" for i in range(rows))
    deliver(folder / name, FILE_HEADER + body, encoding="utf-8")
    os.utime(folder / name, (at.timestamp(), at.timestamp()))


def test_a_file_drop_backfill_counts_only_deliveries_made_by_its_day(dbs, landing):
    from baselib_simulators import macro_economy as sim
    from tests.integration.pipeline_helpers import catalog_entry, run

    sim.write_indicators(landing)
    run(catalog_entry("base_macro_economy.indicator"), DAY1)
    folder = landing / "statistics" / "indicator_value"
    folder.mkdir(parents=True)
    resource = catalog_entry("base_macro_economy.indicator_value")
    cycle = CYCLE_SECONDS[resource.update_cycle]
    old_at = DAY1[1] - dt.timedelta(days=3)
    _deliver(folder, "old.csv", 3, 2024, old_at)
    first = _run(resource, f"scheduled__{DAY1[0].isoformat()}", DAY1)
    # the provider delivers again five days later, and a later day loads it
    new_at = DAY1[1] + dt.timedelta(days=5)
    _deliver(folder, "new.csv", 3, 2023, new_at)
    later = (DAY1[0] + dt.timedelta(days=6), DAY1[1] + dt.timedelta(days=6))
    second = _run(resource, f"scheduled__{later[0].isoformat()}", later)
    # a backfill of DAY1 run afterwards must not count the file delivered after its day
    backfill = _run(resource, f"backfill__{DAY1[0].isoformat()}", DAY1)

    got = {load_id: _metrics(dbs, load_id) for load_id in (first["load_id"], second["load_id"], backfill["load_id"])}
    assert got[first["load_id"]]["newest_source_update"] == old_at
    assert got[second["load_id"]]["newest_source_update"] == new_at
    assert got[second["load_id"]]["timeliness_lag_seconds"] == (later[1] - new_at).total_seconds()
    m = got[backfill["load_id"]]
    assert (m["run_type"], m["judged_at"], m["newest_source_update"]) == ("backfill", DAY1[1], old_at)
    assert m["timeliness_lag_seconds"] == (DAY1[1] - old_at).total_seconds() <= cycle
    assert m["within_update_cycle"] is True


def test_a_reconcile_backfill_that_sees_later_updates_is_judged_on_the_data_of_its_day(dbs, population):
    """A reconcile extract has no upper bound: it reads rows the provider changed after the day it
    backfills. Timeliness still takes the newest update the provider had by that day (what earlier
    loads saw), never the later one."""
    from tests.conftest import DAY2

    fill_source(dbs, rows=300)
    change_source(dbs, at=CHANGED_AT, new=5, changed=5)
    _run(population, f"scheduled__{DAY1[0].isoformat()}", DAY1)
    later_change = DAY1[1] + dt.timedelta(days=6)
    change_source(dbs, at=later_change, new=2, changed=2, seed=7)

    info = pipeline.RunInfo(dag_id=population.dag_id, run_id=f"backfill__{DAY2[0].isoformat()}",
                            logical_date=DAY2[0], data_interval_start=DAY2[0], data_interval_end=DAY2[1],
                            mode="reconcile")
    summary = pipeline.run(population, info)

    assert dbs.scalar("SELECT max_source_updated_at FROM ops.load_run WHERE load_id = %s",
                      (summary["load_id"],)) == later_change         # it did read the later rows
    m = _metrics(dbs, summary["load_id"])
    assert m["judged_at"] == DAY2[1]
    assert m["newest_source_update"] == CHANGED_AT
    assert m["timeliness_lag_seconds"] == (DAY2[1] - CHANGED_AT).total_seconds()
    assert m["timeliness_lag_seconds"] > CYCLE_SECONDS[population.update_cycle] and m["within_update_cycle"] is False
    assert _timely(dbs, summary["load_id"]) == (1, 1)
