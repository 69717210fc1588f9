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
    with pytest.raises(ReferenceNotLoaded, match=r"base_spatial\.admin_division .*has not loaded yet"):
        _wait_for_references(places)
    assert dbs.query("SELECT count(*) FROM ops.load_run WHERE dag_id = %s", (places.dag_id,)) == [(0,)]
    _run(divisions, "success")
    assert missing_references(places) == []
    _wait_for_references(places)  # no longer raises


def test_resources_without_critical_references_never_wait(dbs, catalog):
    values, indicators = catalog["base_macro_economy__indicator_value"], catalog["base_macro_economy__indicator"]
    assert missing_references(values) == [f"base_macro_economy.indicator ({indicators.code})"]
    for dag_id in ("base_population__person", "base_macro_economy__indicator", "base_spatial__admin_division"):
        assert missing_references(catalog[dag_id]) == [], dag_id
    _run(indicators, "loaded")  # merge committed, record not yet: the rows are there
    assert missing_references(values) == []
