"""Personal data with real login roles: a consumer in the schema's reader role reads masked values
from ``<schema>.<table>_masked`` and cannot read a raw personal column; a role the catalog names
as a personal-data reader reads the raw values from ``_current``; a 不予共享 resource gives the
reader nothing.

Each test creates LOGIN roles with random passwords (cluster-wide, so with unique names), connects
to the real PostgreSQL server over TCP as them, and drops them in a finaliser."""
from __future__ import annotations

import re
import secrets

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql

from baselib.catalog.model import Item, Sharing, SharingType
from tests.conftest import DAY1
from tests.integration.login_queries import columns, denied, ensure, rows
from tests.integration.pipeline_helpers import fill_source, run

READER = "base_population_reader"
PERSONAL_READER = "population_personal_reader"
MASKED_COLUMNS = ["loaded_at", "id_number", "name", "sex", "ethnicity", "division_code", "address",
                  "registration_status", "updated_at"]  # birth_date: personal without a rule, left out


@pytest.fixture
def login_roles(dbs):
    """``login(member_of)`` creates a LOGIN role in ``member_of`` with a random password and
    returns an open connection to the test warehouse as that role, over TCP."""
    created, connections = [], []

    def login(member_of: str):
        name = f"baselib_test_login_{secrets.token_hex(6)}"
        password = secrets.token_urlsafe(24)
        conn = dbs.warehouse()
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE {}").format(
                    sql.Identifier(name), sql.Identifier(member_of)), (password,))
            conn.commit()
        finally:
            conn.close()
        created.append(name)
        as_role = psycopg2.connect(dbs.warehouse_uri, user=name, password=password)
        as_role.autocommit = True
        connections.append(as_role)
        assert not as_role.info.host.startswith("/"), "the test must connect over TCP, not a Unix socket"
        assert as_role.info.user == name
        return as_role

    yield login
    for conn in connections:
        conn.close()
    conn = dbs.warehouse()
    try:
        with conn.cursor() as cur:
            for name in created:
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.commit()
    finally:
        conn.close()


def _citizen_id(value: str) -> str:
    return value[:6] + "********" + value[-4:]


def _name(value: str) -> str:
    return value[0] + "*" * (len(value) - 1)


def _address(value: str | None) -> str | None:
    if value is None:
        return None
    return value[:6] + "****" if len(value) >= 10 else "****"


@pytest.fixture
def loaded(dbs, population):
    """The population library loaded through the pipeline from a small simulated source."""
    fill_source(dbs, rows=300)
    summary = run(population, DAY1)
    assert summary["status"] == "success" and summary["rows_inserted"] > 200
    return population


def test_reader_reads_masked_values_and_never_a_raw_personal_column(dbs, loaded, login_roles):
    raw = dbs.query("SELECT id_number, name, address, sex, registration_status FROM base_population.person_current")
    reader = login_roles(READER)

    assert columns(reader, "SELECT * FROM base_population.person_masked") == MASKED_COLUMNS
    masked = rows(reader, "SELECT id_number, name, address, sex, registration_status "
                           "FROM base_population.person_masked")
    assert sorted(masked, key=repr) == sorted(
        [(_citizen_id(i), _name(n), _address(a), s, r) for i, n, a, s, r in raw], key=repr)
    # a known loaded row, spelled out: 6 digits, 8 stars, the last 4 characters
    known_id, known_name = raw[0][0], raw[0][1]
    assert re.fullmatch(r"\d{6}\*{8}[\dX]{4}", _citizen_id(known_id))
    assert (_citizen_id(known_id), _name(known_name)) in {(m[0], m[1]) for m in masked}
    assert not {i for i, *_ in raw} & {m[0] for m in masked}, "a raw citizen ID reached the reader"

    for column in ("id_number", "name", "birth_date", "address"):
        assert denied(reader, f"SELECT {column} FROM base_population.person_current LIMIT 1"), column
    assert denied(reader, "SELECT * FROM base_population.person_current LIMIT 1")
    assert denied(reader, "SELECT * FROM base_population.person_history LIMIT 1")
    assert denied(reader, "SELECT * FROM base_population.person LIMIT 1")
    # the non-personal columns of the current view stay readable, as before
    assert rows(reader, "SELECT count(sex) FROM base_population.person_current") == [(len(raw),)]


def test_personal_data_reader_reads_raw_values(dbs, loaded, login_roles):
    raw = dbs.query("SELECT id_number, name, birth_date, address FROM base_population.person_current")
    personal = login_roles(PERSONAL_READER)

    got = rows(personal, "SELECT id_number, name, birth_date, address FROM base_population.person_current")
    assert sorted(got, key=repr) == sorted(raw, key=repr)
    assert denied(personal, "SELECT * FROM base_population.person_history LIMIT 1")


def test_a_phone_item_is_masked_and_null_stays_null(dbs, loaded, login_roles):
    phone = Item(name="phone", label="联系电话", type="C", length=20, personal=True, mask="phone")
    grown = loaded.model_copy(update={"items": [*loaded.items, phone]})
    ensure(dbs, [grown])
    dbs.query("UPDATE base_population.person_history SET phone = CASE WHEN sex = '1' THEN '13800138000' END "
              "WHERE _valid_to IS NULL")
    men = dbs.scalar("SELECT count(*) FROM base_population.person_current WHERE sex = '1'")
    reader, personal = login_roles(READER), login_roles(PERSONAL_READER)

    assert columns(reader, "SELECT * FROM base_population.person_masked") == [*MASKED_COLUMNS, "phone"]
    assert sorted(rows(reader, "SELECT sex, phone, count(*) FROM base_population.person_masked GROUP BY 1, 2"),
                  key=repr) == sorted(
        dbs.query("SELECT sex, CASE WHEN sex = '1' THEN '138****8000' END, count(*) "
                  "FROM base_population.person_current GROUP BY 1, 2"), key=repr)
    assert men > 0
    assert denied(reader, "SELECT phone FROM base_population.person_current LIMIT 1")
    assert rows(personal, "SELECT DISTINCT phone FROM base_population.person_current WHERE sex = '1'") == [
        ("13800138000",)]


def test_a_resource_that_is_not_shared_gives_the_reader_nothing(dbs, loaded, login_roles):
    secret = loaded.model_copy(update={"sharing": Sharing(
        type=SharingType.not_shared, condition="《测试》第一条：不予共享", method=loaded.sharing.method)})
    ensure(dbs, [secret])
    reader, personal = login_roles(READER), login_roles(PERSONAL_READER)

    for relation in ("person_current", "person_history", "person"):
        assert denied(reader, f"SELECT count(*) FROM base_population.{relation}"), relation
        # a personal-data reader the catalog no longer names loses its grant too
        assert denied(personal, f"SELECT count(*) FROM base_population.{relation}"), relation
    assert denied(reader, "SELECT sex FROM base_population.person_current LIMIT 1")
    assert dbs.scalar("SELECT to_regclass('base_population.person_masked')") is None

    # shared again: the reader gets the masked view back
    ensure(dbs, [loaded])
    assert rows(reader, "SELECT count(*) FROM base_population.person_masked") == [
        (dbs.scalar("SELECT count(*) FROM base_population.person_current"),)]


def _masked_state(dbs) -> list[tuple]:
    return dbs.query("SELECT c.relname, pg_get_viewdef(c.oid), c.relacl::text FROM pg_class c "
                     "JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE n.nspname = 'base_population' AND c.relkind = 'v' ORDER BY 1")


def test_ensuring_twice_changes_nothing_and_a_recreated_current_view_keeps_its_masked_view(dbs, population,
                                                                                          login_roles):
    ensure(dbs, [population])
    before = _masked_state(dbs)
    ensure(dbs, [population])
    assert _masked_state(dbs) == before

    # an older release's current view (loaded_at last) with a masked view on it: the current view
    # cannot be replaced in place, so both are recreated in the same transaction
    dbs.query("DROP VIEW base_population.person_current CASCADE; "
              "CREATE VIEW base_population.person_current AS SELECT id_number, _loaded_at AS loaded_at "
              "FROM base_population.person; "
              "CREATE VIEW base_population.person_masked AS SELECT loaded_at FROM base_population.person_current")
    ensure(dbs, [population])

    assert _masked_state(dbs) == before
    reader = login_roles(READER)
    assert columns(reader, "SELECT * FROM base_population.person_masked") == MASKED_COLUMNS
