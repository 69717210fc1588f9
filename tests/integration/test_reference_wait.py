"""A base library checked against another one waits for it (baselib.orchestration.assets
.missing_references and the extract task's guard), against a real warehouse.

On a freshly deployed platform every DAG starts at once: the place names are checked against the
division boundaries, the indicator values against the indicator catalogue. Until the reference has
a committed load, the extract task raises ReferenceNotLoaded (Airflow retries it) before any run is
opened, instead of a load blocked ("load it before this resource") or, while the reference's first
load is running, every row quarantined against an empty table."""
from __future__ import annotations

import datetime as dt

import pytest

from baselib.catalog import load_catalog
from baselib.errors import ReferenceNotLoaded
from baselib.orchestration.assets import missing_references
from baselib.records import load_run
from baselib.warehouse import connections, schema


@pytest.fixture
def catalog():
    return {r.dag_id: r for r in load_catalog()}


def _run(resource, status: str) -> None:
    conn = connections.connect()
    try:
        schema.ensure(conn, [])
        load_id = load_run.start(conn, resource_code=resource.code, dag_id=resource.dag_id, run_id=f"manual__{status}",
                                 logical_date=None, data_interval_start=None, data_interval_end=None, mode="full")
        if status != "running":
            load_run.update(conn, load_id, status=status, finished_at=dt.datetime.now(dt.timezone.utc))
        conn.commit()
    finally:
        conn.close()


def test_the_place_names_wait_for_a_committed_load_of_the_divisions(dbs, catalog):
    from baselib.orchestration.dag_factory import _wait_for_references

    places, divisions = catalog["base_spatial__place_name"], catalog["base_spatial__admin_division"]
    expected = [f"base_spatial.admin_division ({divisions.code})"]
    assert missing_references(places) == expected  # a warehouse nothing has loaded into
    _run(divisions, "running")  # its first load has begun: its table may exist, empty
    assert missing_references(places) == expected
    _run(divisions, "failed")
    assert missing_references(places) == expected
    with pytest.raises(ReferenceNotLoaded, match=r"base_spatial\.admin_division .*has not loaded after"):
        _wait_for_references(places, wait=dt.timedelta(0))
    assert dbs.query("SELECT count(*) FROM ops.load_run WHERE dag_id = %s", (places.dag_id,)) == [(0,)]
    _run(divisions, "success")
    assert missing_references(places) == []
    _wait_for_references(places, wait=dt.timedelta(0))  # no longer raises


def test_resources_without_critical_references_never_wait(dbs, catalog):
    values, indicators = catalog["base_macro_economy__indicator_value"], catalog["base_macro_economy__indicator"]
    assert missing_references(values) == [f"base_macro_economy.indicator ({indicators.code})"]
    for dag_id in ("base_population__person", "base_macro_economy__indicator", "base_spatial__admin_division"):
        assert missing_references(catalog[dag_id]) == [], dag_id
    _run(indicators, "loaded")  # merge committed, record not yet: the rows are there
    assert missing_references(values) == []


def test_the_wait_goes_on_while_the_reference_loads_and_ends_when_it_has(dbs, catalog):
    """The extract task waits in place (independent of the source's retries): each poll checks the
    warehouse again; the reference's first load commits during the wait, and the wait returns."""
    from baselib.orchestration.dag_factory import _wait_for_references

    places, divisions = catalog["base_spatial__place_name"], catalog["base_spatial__admin_division"]
    polls = []

    def sleep(seconds):  # a poll: the reference's load goes on meanwhile (it commits on the 3rd)
        polls.append(seconds)
        if len(polls) == 3:
            _run(divisions, "loaded")

    _wait_for_references(places, wait=dt.timedelta(hours=1), poll=dt.timedelta(seconds=5), sleep=sleep)
    assert polls == [5.0, 5.0, 5.0]


def test_a_reference_whose_entry_is_broken_fails_with_the_entry_named(dbs, catalog):
    from baselib.errors import CatalogError

    places = catalog["base_spatial__place_name"]
    others = [r for r in catalog.values() if r.dag_id != "base_spatial__admin_division"]
    with pytest.raises(CatalogError, match=r"critical reference base_spatial\.admin_division is no loadable"):
        missing_references(places, others)


def test_reference_wait_setting():
    from baselib.orchestration.dag_factory import REFERENCE_WAIT_DEFAULT, reference_wait

    assert reference_wait({}) == REFERENCE_WAIT_DEFAULT == dt.timedelta(minutes=60)
    assert reference_wait({"BASELIB_REFERENCE_WAIT_MINUTES": "2.5"}) == dt.timedelta(seconds=150)
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(ValueError, match="BASELIB_REFERENCE_WAIT_MINUTES"):
            reference_wait({"BASELIB_REFERENCE_WAIT_MINUTES": bad})


def test_retries_back_off_exponentially(catalog):
    """Airflow's own next_retry_datetime for the extract task: each delay at least doubles the base
    (30 s, 60 s, 120 s …; Airflow adds a hash-based jitter below the next step) and never exceeds
    max_retry_delay."""
    from types import SimpleNamespace

    from airflow.models.taskinstance import TaskInstance

    from baselib.orchestration.dag_factory import build_dag

    resource = catalog["base_spatial__place_name"]
    extract = build_dag(resource).get_task("extract")
    assert extract.retry_exponential_backoff == 2.0
    end = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)
    delays = []
    for try_number in range(1, 7):
        ti = SimpleNamespace(task=extract, task_id="extract", try_number=try_number, dag_id=resource.dag_id,
                             logical_date=end, end_date=end, retry_delay_override=None, log=None)
        delays.append((TaskInstance.next_retry_datetime(ti) - end).total_seconds())
    for n, delay in enumerate(delays):
        assert 30 * 2 ** n <= delay <= min(30 * 2 ** (n + 1), 1800), delays
