"""DDL derived from the catalog is idempotent and evolves only in safe ways."""
from __future__ import annotations

import pytest

from baselib.catalog.model import Item
from baselib.errors import SchemaMismatch
from baselib.warehouse import schema


def _ensure(dbs, resource):
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [resource])
    finally:
        conn.close()


def _columns(dbs, table):
    return [r[0] for r in dbs.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'base_population' "
        "AND table_name = %s ORDER BY ordinal_position", (table,))]


def test_applying_ddl_twice_changes_nothing(dbs, population):
    _ensure(dbs, population)
    before = dbs.query("SELECT table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema IN ('base_population', 'ops', 'catalog', 'evaluation') ORDER BY 1, 2")
    _ensure(dbs, population)
    after = dbs.query("SELECT table_name, column_name, data_type FROM information_schema.columns "
                      "WHERE table_schema IN ('base_population', 'ops', 'catalog', 'evaluation') ORDER BY 1, 2")
    assert before == after
    assert _columns(dbs, "person")[:len(population.items)] == population.column_names


def test_one_scd2_table_with_views_of_its_open_and_live_versions(dbs, population):
    _ensure(dbs, population)

    kinds = dict(dbs.query("SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = 'base_population' AND c.relkind IN ('r', 'v')"))
    assert kinds == {"person_history": "r", "person": "v", "person_current": "v", "person_masked": "v"}
    assert _columns(dbs, "person") == [*population.column_names, "_row_hash", "_load_id", "_first_loaded_at",
                                       "_loaded_at", "_deleted_at", "_delivery_id"]
    # a simple view: PostgreSQL can update the open versions through it
    assert dbs.scalar("SELECT is_updatable FROM information_schema.views WHERE table_schema = 'base_population' "
                      "AND table_name = 'person'") == "YES"
    assert dbs.query("SELECT indexdef FROM pg_indexes WHERE schemaname = 'base_population'") == [
        ("CREATE UNIQUE INDEX person_history_open ON base_population.person_history USING btree (id_number) "
         "WHERE (_valid_to IS NULL)",)]


def test_a_new_catalog_item_becomes_a_nullable_column_everywhere(dbs, population):
    _ensure(dbs, population)
    phone = Item(name="phone", label="联系电话", type="C", length=20, personal=True)
    grown = population.model_copy(update={"items": [*population.items, phone]})

    _ensure(dbs, grown)

    for table in ("person", "person_history", "person_current"):
        assert "phone" in _columns(dbs, table)
    assert dbs.scalar("SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'base_population' "
                      "AND table_name = 'person_history' AND column_name = 'phone'") == "YES"
    # the base view was recreated with the item before its bookkeeping columns
    assert _columns(dbs, "person")[:len(grown.items)] == grown.column_names
    # personal, so the plain reader role does not get it
    assert not dbs.scalar("SELECT has_column_privilege('base_population_reader', "
                          "'base_population.person_current', 'phone', 'SELECT')")


def test_a_changed_item_type_is_refused_not_cast(dbs, population):
    _ensure(dbs, population)
    items = [i.model_copy(update={"type": "N", "length": None}) if i.name == "ethnicity" else i
             for i in population.items]
    with pytest.raises(SchemaMismatch, match="ethnicity"):
        _ensure(dbs, population.model_copy(update={"items": items}))


def test_a_view_whose_columns_cannot_be_replaced_in_place_is_recreated(dbs, population):
    _ensure(dbs, population)
    # an older release put loaded_at last: CREATE OR REPLACE VIEW cannot reorder columns
    dbs.query("DROP VIEW base_population.person_current CASCADE; "
              "CREATE VIEW base_population.person_current AS SELECT id_number, _loaded_at AS loaded_at "
              "FROM base_population.person")

    _ensure(dbs, population)

    assert _columns(dbs, "person_current") == ["loaded_at", *population.column_names]
    assert dbs.scalar("SELECT has_column_privilege('base_population_reader', "
                      "'base_population.person_current', 'sex', 'SELECT')")


def test_the_ddl_is_tried_again_when_it_is_a_deadlocks_victim(dbs, caplog):
    """R1 #6 (a fresh deployment, every DAG at once): a writer holds sharing.consumer and then asks
    for the DDL's advisory lock while the DDL waits for sharing.consumer. PostgreSQL ends the DDL
    transaction (it detects the deadlock first: shorter deadlock_timeout); ensure() rolls back and
    tries again once the writer is through, and the DDL commits."""
    import logging
    import threading
    import time

    setup = dbs.warehouse()
    schema.ensure(setup, [])
    setup.close()
    writer, ddl = dbs.warehouse(), dbs.warehouse()
    with ddl.cursor() as cur:
        cur.execute("SET deadlock_timeout = '100ms'")
    ddl.commit()
    with writer.cursor() as cur:
        cur.execute("SET deadlock_timeout = '10s'")
        cur.execute("LOCK TABLE sharing.consumer IN ROW EXCLUSIVE MODE")  # a writer's row work
    errors: list[BaseException] = []

    def run_ddl():
        try:
            schema.ensure(ddl, [])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    caplog.set_level(logging.WARNING, logger="baselib.warehouse.schema")
    thread = threading.Thread(target=run_ddl)
    thread.start()
    waiting = ("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted "
               "AND l.relation = 'sharing.consumer'::regclass")
    for _ in range(200):  # the DDL holds the advisory lock and waits for sharing.consumer
        if dbs.scalar(waiting):
            break
        time.sleep(0.05)
    assert dbs.scalar(waiting), "the DDL never waited for sharing.consumer"
    with writer.cursor() as cur:  # now the writer wants the DDL's advisory lock: a deadlock
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (schema._DDL_LOCK_KEY,))
    writer.commit()  # granted once the DDL transaction was ended; the writer is through
    thread.join(60)
    writer.close()
    ddl.close()
    assert not thread.is_alive() and errors == []
    assert any("deadlock's victim (attempt 1 of" in r.getMessage() for r in caplog.records)
