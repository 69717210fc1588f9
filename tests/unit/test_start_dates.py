"""A newly deployed DAG runs its latest complete interval at once (baselib.orchestration.schedules
.start_date with catchup=False), whatever its update cycle.

R1 #3: with start_date = the publish date, the yearly libraries other libraries are checked against
(division boundaries, indicator catalogue; published 2026-03-01) had their first run in 2028, so the
place names and indicator values waited on a fresh platform until their retries ran out."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from baselib.catalog import load_catalog
from baselib.orchestration.schedules import start_date

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def catalog():
    return {r.dag_id: r for r in load_catalog() if not r.is_theme}


def _deployed_interval(resource):
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    from baselib.orchestration.dag_factory import build_dag

    dag = build_dag(resource)
    timetable = coerce_to_core_timetable(dag.timetable)
    info = timetable.next_dagrun_info(last_automated_data_interval=None,
                                      restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=False))
    return dag, info


def test_every_base_dag_runs_its_latest_complete_interval_when_deployed(catalog):
    now = dt.datetime.now(dt.timezone.utc)
    for dag_id, resource in catalog.items():
        dag, info = _deployed_interval(resource)
        assert info is not None, dag_id
        assert info.data_interval.end <= now, f"{dag_id}: first run not before {info.data_interval.end}"
        assert dag.start_date <= dt.datetime.combine(resource.publish_date, dt.time(), SH), dag_id


@pytest.mark.parametrize("dag_id, local_start, local_end", [
    ("base_spatial__admin_division", dt.datetime(2025, 1, 1), dt.datetime(2026, 1, 1)),   # yearly, published 2026-03
    ("base_macro_economy__indicator", dt.datetime(2025, 1, 1), dt.datetime(2026, 1, 1)),
])
def test_the_yearly_references_load_last_year_when_deployed(catalog, dag_id, local_start, local_end):
    if dt.datetime.now(SH) >= dt.datetime(2027, 1, 1, tzinfo=SH):
        pytest.skip("written for deployments in 2026: later, the latest complete year is a later one")
    _, info = _deployed_interval(catalog[dag_id])
    assert (info.data_interval.start, info.data_interval.end) == (local_start.replace(tzinfo=SH),
                                                                  local_end.replace(tzinfo=SH))


@pytest.mark.parametrize("cron, publish, expected", [
    ("@daily", dt.date(2026, 1, 15), dt.datetime(2026, 1, 14)),
    ("@monthly", dt.date(2026, 3, 1), dt.datetime(2026, 2, 1)),       # a fire at the publish midnight holds it
    ("@yearly", dt.date(2026, 3, 1), dt.datetime(2025, 1, 1)),
    ("0 2 1 5 *", dt.date(2026, 11, 1), dt.datetime(2025, 5, 1, 2)),
    ("0 0 1 1,4,7,10 *", dt.date(2026, 3, 1), dt.datetime(2025, 10, 1)),
])
def test_start_date_is_the_interval_before_the_one_holding_the_publish_date(catalog, cron, publish, expected):
    resource = catalog["base_population__person"]
    pipeline = resource.pipeline.model_copy(update={"schedule": cron})
    changed = resource.model_copy(update={"pipeline": pipeline, "publish_date": publish})
    assert start_date(changed) == expected.replace(tzinfo=SH)
