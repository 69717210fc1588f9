"""Migrating a warehouse loaded by the two-table layout (commit 0b4638c) to one SCD2 table.

The fixtures (tests/fixtures/legacy_warehouse, README there) are real warehouses that the old code
loaded: 60 people (59 loaded, 1 quarantined), then 3 new and 4 changed, then 3 deleted by a
reconcile, then one of them back; and one statistics-bureau and one natural-resources file drop
(rows with their delivery ids, PostGIS geometry columns). Each is restored into a fresh warehouse
and ``schema.ensure`` migrates it. The layout from before file drops (no ``_delivery_id``) is
derived from the population fixture.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg2
import pytest

from baselib.errors import SchemaMismatch
from baselib.warehouse import schema
from tests.conftest import UTC
from tests.integration.pipeline_helpers import run, table_digest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_warehouse" / "legacy_warehouse.sql"
ITEMS = "id_number, name, sex, ethnicity, birth_date, division_code, address, registration_status, updated_at"
DAY5 = (dt.datetime(2026, 11, 4, 16, tzinfo=UTC), dt.datetime(2026, 11, 5, 16, tzinfo=UTC))
DAY6 = (dt.datetime(2026, 11, 5, 16, tzinfo=UTC), dt.datetime(2026, 11, 6, 16, tzinfo=UTC))


def _restore(dbs) -> None:
    conn = dbs.warehouse()
    try:
        with conn.cursor() as cur:
            cur.execute(FIXTURE.read_text(encoding="utf-8"))
        conn.commit()
    finally:
        conn.close()


def _ensure(population) -> None:
    _ensure_resources([population])


def _ensure_resources(resources) -> None:
    from baselib.warehouse import connections

    with connections.transaction() as conn:
        schema.ensure(conn, resources)


def _old_rows(dbs) -> list[tuple]:
    """The old current table, as the new base view must show it (a deleted key's load time is
    its deletion)."""
    return dbs.query(f"SELECT {ITEMS}, _row_hash, _load_id, _first_loaded_at, _deleted_at, _delivery_id, "
                     "CASE WHEN _deleted_at IS NULL THEN _loaded_at ELSE _deleted_at END "
                     "FROM base_population.person ORDER BY id_number")


def _layout_digest(dbs) -> tuple:
    return (table_digest(dbs, "base_population.person_history"),
            dbs.query("SELECT c.relname, c.relkind, pg_get_viewdef(c.oid) FROM pg_class c "
                      "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'base_population' "
                      "ORDER BY 1"),
            dbs.query("SELECT indexdef FROM pg_indexes WHERE schemaname = 'base_population' ORDER BY 1"),
            dbs.query("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                      "WHERE conrelid = 'base_population.person_history'::regclass ORDER BY 1"))


@pytest.fixture
def legacy(dbs):
    _restore(dbs)
    return dbs


def _source_from_live_rows(dbs) -> None:
    """A public-security source holding exactly the warehouse's live rows."""
    from baselib_simulators import population as sim

    rows = dbs.query(f"SELECT {ITEMS} FROM base_population.person_current ORDER BY id_number")
    conn = dbs.source()
    try:
        with conn.cursor() as cur:
            cur.execute(sim.DDL)
            cur.executemany(f"INSERT INTO frontend.population_person ({ITEMS}) VALUES ({', '.join(['%s'] * 9)})",
                            rows)
        conn.commit()
    finally:
        conn.close()


def test_the_fixture_is_the_old_two_table_layout(legacy):
    assert legacy.scalar("SELECT relkind FROM pg_class WHERE oid = 'base_population.person'::regclass") == "r"
    assert legacy.scalar("SELECT count(*) FROM base_population.person") == 62
    assert legacy.scalar("SELECT count(*) FROM base_population.person WHERE _deleted_at IS NOT NULL") == 2
    assert legacy.scalar("SELECT count(*) FROM base_population.person_history") == 67
    assert legacy.scalar("SELECT count(*) FROM base_population.person_history WHERE _valid_to IS NULL") == 60


def test_migration_keeps_every_version_and_current_row_and_is_idempotent(legacy, population):
    old = _old_rows(legacy)
    old_versions = legacy.query(f"SELECT {ITEMS}, _row_hash, _valid_from, _valid_to, _load_id, _closed_by_load_id, "
                                "_change FROM base_population.person_history ORDER BY id_number, _valid_from")
    deleted_for_good = [r[0] for r in legacy.query(
        "SELECT id_number FROM base_population.person WHERE _deleted_at IS NOT NULL ORDER BY 1")]

    _ensure(population)
    after_first = _layout_digest(legacy)
    _ensure(population)

    assert _layout_digest(legacy) == after_first  # the second run changes nothing
    assert legacy.scalar("SELECT relkind FROM pg_class WHERE oid = 'base_population.person'::regclass") == "v"
    assert _old_rows(legacy) == old
    # every old version is kept as it was; three tombstones are added (3 keys deleted by load 3)
    kept = legacy.query(f"SELECT {ITEMS}, _row_hash, _valid_from, _valid_to, _load_id, _closed_by_load_id, _change "
                        "FROM base_population.person_history WHERE _change <> 'D' ORDER BY id_number, _valid_from")
    assert kept == old_versions
    tombstones = legacy.query("SELECT id_number, _load_id, _closed_by_load_id, _valid_to IS NULL, "
                              "_deleted_at = _valid_from FROM base_population.person_history WHERE _change = 'D' "
                              "ORDER BY _valid_to NULLS FIRST, id_number")
    assert [t[1:] for t in tombstones] == [(3, None, True, True), (3, None, True, True), (3, 4, False, True)]
    assert sorted(t[0] for t in tombstones[:2]) == deleted_for_good
    reappeared = tombstones[2][0]
    assert legacy.query("SELECT _change, _load_id, _deleted_at IS NULL FROM base_population.person_history "
                        "WHERE id_number = %s ORDER BY _valid_from", (reappeared,)) == [
        ("I", 1, True), ("D", 3, False), ("U", 4, True)]
    # one open version per key ever loaded; the consumer view shows the live ones
    assert legacy.scalar("SELECT count(*) FROM base_population.person_history WHERE _valid_to IS NULL") == 62
    assert legacy.scalar("SELECT count(*) FROM base_population.person_history") == 70
    assert legacy.scalar("SELECT count(*) FROM base_population.person_current") == 60
    assert legacy.scalar("SELECT count(*) FROM base_population.person_current WHERE id_number = ANY(%s)",
                         (deleted_for_good,)) == 0
    # grants come back on the new consumer view: the reader sees the non-personal items only
    assert legacy.scalar("SELECT has_column_privilege('base_population_reader', 'base_population.person_current', "
                         "'registration_status', 'SELECT')")
    assert not legacy.scalar("SELECT has_column_privilege('base_population_reader', "
                             "'base_population.person_current', 'id_number', 'SELECT')")


def test_loads_after_the_migration_make_no_spurious_version(legacy, population):
    _ensure(population)
    _source_from_live_rows(legacy)
    versions = legacy.scalar("SELECT count(*) FROM base_population.person_history")

    # the stored hashes are the old md5s: equal values are unchanged, and their hashes are rewritten
    same = run(population, DAY5, mode="reconcile")
    assert (same["rows_inserted"], same["rows_updated"], same["rows_deleted"], same["rows_unchanged"]) == (0, 0, 0, 60)
    assert legacy.scalar("SELECT count(*) FROM base_population.person_history") == versions
    assert legacy.scalar("SELECT count(*) FROM base_population.person_history WHERE _valid_to IS NULL "
                         "AND _deleted_at IS NULL AND length(_row_hash) = 32") == 0  # md5 hex is 32 digits

    again = run(population, DAY5, mode="reconcile")
    assert (again["rows_inserted"], again["rows_updated"], again["rows_unchanged"]) == (0, 0, 60)

    key = legacy.scalar("SELECT min(id_number) FROM base_population.person_current")
    legacy.query("UPDATE frontend.population_person SET address = address || '（迁移后变更）', updated_at = %s "
                 "WHERE id_number = %s", (DAY6[0], key), db="source")
    changed = run(population, DAY6, mode="reconcile")
    assert (changed["rows_inserted"], changed["rows_updated"], changed["rows_unchanged"]) == (0, 1, 59)
    assert legacy.scalar("SELECT count(*) FROM base_population.person_history") == versions + 1
    assert legacy.query("SELECT _change, _load_id FROM base_population.person_history "
                        "WHERE id_number = %s AND _valid_to IS NULL", (key,)) == [("U", changed["load_id"])]
    assert legacy.scalar("SELECT address FROM base_population.person WHERE id_number = %s", (key,)).endswith("（迁移后变更）")


def test_a_warehouse_whose_history_disagrees_is_not_migrated(legacy, population):
    legacy.query("UPDATE base_population.person_history SET address = 'wrong' WHERE _valid_to IS NULL "
                 "AND id_number = (SELECT min(id_number) FROM base_population.person)")
    before = table_digest(legacy, "base_population.person_history")

    with pytest.raises(SchemaMismatch, match="1 keys' open versions"):
        _ensure(population)

    assert legacy.scalar("SELECT relkind FROM pg_class WHERE oid = 'base_population.person'::regclass") == "r"
    assert table_digest(legacy, "base_population.person_history") == before
    with pytest.raises(psycopg2.Error):
        legacy.query("SELECT _first_loaded_at FROM base_population.person_history")


def test_a_layout_from_before_file_drops_is_migrated(legacy, population):
    """Commits 552bfaf and 49aeb19 wrote both tables without ``_delivery_id`` (file-drop sources
    came with da18543, whose DDL added it in place): derived here from the fixture by dropping it,
    the only difference of those layouts' tables (git log -p include/sql/templates/base_table.sql)."""
    legacy.query("ALTER TABLE base_population.person DROP COLUMN _delivery_id; "
                 "ALTER TABLE base_population.person_history DROP COLUMN _delivery_id")
    old = legacy.query(f"SELECT {ITEMS}, _row_hash, _load_id, _first_loaded_at, _deleted_at "
                       "FROM base_population.person ORDER BY id_number")

    _ensure(population)
    _ensure(population)

    assert legacy.scalar("SELECT relkind FROM pg_class WHERE oid = 'base_population.person'::regclass") == "v"
    assert legacy.query(f"SELECT {ITEMS}, _row_hash, _load_id, _first_loaded_at, _deleted_at "
                        "FROM base_population.person ORDER BY id_number") == old
    assert legacy.scalar("SELECT count(*) FROM base_population.person_history") == 70
    assert legacy.scalar("SELECT count(*) FROM base_population.person_history WHERE _delivery_id IS NOT NULL") == 0
    # the resource loads again: the same live rows make no version
    _source_from_live_rows(legacy)
    same = run(population, DAY5, mode="reconcile")
    assert (same["rows_inserted"], same["rows_updated"], same["rows_deleted"], same["rows_unchanged"]) == (0, 0, 0, 60)
    assert legacy.scalar("SELECT count(*) FROM base_population.person_history") == 70


def _restore_file(dbs, name: str) -> None:
    conn = dbs.warehouse()
    try:
        with conn.cursor() as cur:
            cur.execute((FIXTURE.parent / name).read_text(encoding="utf-8"))
        conn.commit()
    finally:
        conn.close()


def _versions(dbs, history: str, key: str, extra: str = "") -> list[tuple]:
    # history and key come from the test, not from input
    return dbs.query(f"SELECT {key}, _row_hash, _valid_from, _load_id, _delivery_id{extra} FROM {history} "
                     f"ORDER BY {key}, _valid_from")


def test_a_file_drop_resource_keeps_its_delivery_ids(dbs, landing):
    """base_macro_economy.indicator_value loaded from a statistics-bureau drop by commit 0b4638c
    (tests/fixtures/legacy_warehouse/legacy_macro_economy.sql): every row carries its delivery."""
    from baselib_simulators import macro_economy as sim
    from tests.integration.pipeline_helpers import catalog_entry

    _restore_file(dbs, "legacy_macro_economy.sql")
    indicators, values = (catalog_entry("base_macro_economy.indicator"),
                          catalog_entry("base_macro_economy.indicator_value"))
    key = "indicator_code, region_code, period"
    before = _versions(dbs, "base_macro_economy.indicator_value_history", key)
    delivered = dbs.query(f"SELECT {key}, _delivery_id FROM base_macro_economy.indicator_value ORDER BY {key}")
    assert len(before) == 487 and all(v[4] is not None for v in before)

    _ensure_resources([indicators, values])

    assert dbs.scalar("SELECT relkind FROM pg_class WHERE oid = 'base_macro_economy.indicator_value'::regclass") == "v"
    assert _versions(dbs, "base_macro_economy.indicator_value_history", key) == before
    assert dbs.query(f"SELECT {key}, _delivery_id FROM base_macro_economy.indicator_value ORDER BY {key}") == delivered
    # the same drop again: a no-change load makes no version and keeps the delivery ids
    sim.write_drop(landing, seed=11, provinces=("360000",))
    run(indicators, DAY5)
    again = run(values, DAY5)
    assert again["status"] == "success"
    assert (again["rows_inserted"], again["rows_updated"], again["rows_unchanged"]) == (0, 0, 487)
    assert dbs.scalar("SELECT count(*) FROM base_macro_economy.indicator_value_history") == 487
    assert dbs.query(f"SELECT {key}, _delivery_id FROM base_macro_economy.indicator_value ORDER BY {key}") == delivered


def test_a_resource_with_a_generated_geometry_column_keeps_its_geometries(dbs, landing, monkeypatch):
    """base_spatial.admin_division loaded with PostGIS by commit 0b4638c
    (tests/fixtures/legacy_warehouse/legacy_spatial.sql): both old tables had the generated
    ``boundary_geom`` and the old table its GiST index."""
    from baselib_simulators import spatial as sim
    from tests.integration.pipeline_helpers import catalog_entry

    if not dbs.scalar("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'"):
        pytest.skip("this PostgreSQL server has no PostGIS (CI installs postgresql-15-postgis-3)")
    monkeypatch.setenv("BASELIB_POSTGIS", "on")
    dbs.query("CREATE EXTENSION IF NOT EXISTS postgis")
    _restore_file(dbs, "legacy_spatial.sql")
    divisions, places = catalog_entry("base_spatial.admin_division"), catalog_entry("base_spatial.place_name")
    geometry = ", ST_AsEWKB(boundary_geom)"
    before = _versions(dbs, "base_spatial.admin_division_history", "division_code", geometry)
    assert len(before) == 93 and all(v[5] is not None and v[4] is not None for v in before)

    _ensure_resources([divisions, places])

    assert dbs.scalar("SELECT relkind FROM pg_class WHERE oid = 'base_spatial.admin_division'::regclass") == "v"
    assert _versions(dbs, "base_spatial.admin_division_history", "division_code", geometry) == before
    assert dbs.scalar("SELECT bool_and(ST_Equals(boundary_geom, ST_GeomFromWKB(boundary, 4490))) "
                      "FROM base_spatial.admin_division_current")
    assert dbs.scalar("SELECT count(*) FROM base_spatial.place_name_current WHERE location_geom IS NOT NULL") == 272
    # the GiST index is on the SCD2 table now
    assert "USING gist" in dbs.scalar("SELECT indexdef FROM pg_indexes WHERE schemaname = 'base_spatial' "
                                      "AND indexname = 'admin_division_boundary_geom_gist'")
    assert dbs.scalar("SELECT tablename FROM pg_indexes WHERE indexname = 'admin_division_boundary_geom_gist'") \
        == "admin_division_history"
    # the same drop again: a no-change load makes no version
    sim.write_drop(landing, seed=10, provinces=("360000",))
    again = run(divisions, DAY5)
    run(places, DAY5)
    assert again["status"] == "success"
    assert (again["rows_inserted"], again["rows_updated"], again["rows_unchanged"]) == (0, 0, 93)
    # the same versions, geometries and deliveries; only the old md5 hashes are rewritten in place
    after = _versions(dbs, "base_spatial.admin_division_history", "division_code", geometry)
    assert [v[:1] + v[2:] for v in after] == [v[:1] + v[2:] for v in before]
