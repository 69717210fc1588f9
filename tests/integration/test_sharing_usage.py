"""Measured use from a real consumer session: the consumer logs in as its own LOGIN role, reads
its shared views, and the collection (baselib.sharing.usage, from pg_stat_statements) records
exactly the statements and rows it read, per resource, on today's date; a second collection adds
nothing; more reads add exactly those."""
from __future__ import annotations

import datetime as dt
import io

import psycopg2.errors
import pytest

from baselib.catalog import load_catalog
from baselib.sharing import applications, consumers, grants, policy, usage
from baselib.warehouse import schema
from tests.conftest import DAY1
from tests.integration.pipeline_helpers import fill_source, run
from tests.integration.sharing_fixtures import sharing_consumers  # noqa: F401

POPULATION = "101001/000001"
LEGAL_ENTITY = "102001/000001"


def _read(conn, statement: str) -> int:
    with conn.cursor() as cur:
        cur.execute(statement)
        return len(cur.fetchall())


def _usage(dbs) -> dict[tuple, tuple]:
    return {(d, c, r): (q, n) for d, c, r, q, n in dbs.query(
        "SELECT usage_date, consumer_code, resource_code, queries, rows_read FROM evaluation.sharing_usage")}


@pytest.fixture
def consumer_session(dbs, population, sharing_consumers):  # noqa: F811
    """A consumer with approved applications for the population (loaded, 300 people) and the
    legal-entity library (tables only, no rows), its views built, its statistics reset, logged in."""
    fill_source(dbs, rows=300)
    assert run(population, DAY1)["status"] == "success"
    catalog = load_catalog()
    legal_entity = next(r for r in catalog if r.code == LEGAL_ENTITY)
    conn = dbs.warehouse()
    schema.ensure(conn, [legal_entity])
    reason = usage.unavailable_reason(conn)
    if reason is not None:
        pytest.skip(f"this server cannot measure use: {reason}")
    declared = sharing_consumers("usage")
    consumers.apply_roles(conn, consumers.load(declared.path))
    code = declared.code("usage")
    today = dt.datetime.now(dt.timezone.utc).astimezone(policy.load().zone).date()
    for resource_code in (POPULATION, LEGAL_ENTITY):
        app = applications.apply(conn, consumer_code=code, resource_code=resource_code, items=None,
                                 purpose="测试用量", legal_basis="测试依据", period_start=today,
                                 period_end=today + dt.timedelta(days=30), catalog=catalog)
        applications.approve(conn, app.application_id, by="测试审批人")
    grants.reconcile(conn, consumer_code=code, catalog=catalog)
    with conn.cursor() as cur:
        # all of the server's statistics: a full table evicts its least-used entries as new ones come,
        # and could drop this consumer's between its reads and the collection; emptied, the test's
        # few hundred statements cannot fill it (the suite runs one test at a time)
        cur.execute("SELECT pg_stat_statements_reset()")
    conn.commit()
    session = declared.login("usage")
    yield conn, session, code, catalog
    session.close()
    conn.close()


def test_collect_records_exactly_the_consumers_reads(dbs, consumer_session):
    conn, session, code, catalog = consumer_session
    assert [_read(session, f"SELECT * FROM base_population__person LIMIT {n}") for n in (5, 7, 11)] == [5, 7, 11]
    schema_name = f"share_{code}"
    assert _read(session, f"SELECT * FROM {schema_name}.base_legal_entity__legal_entity") == 0
    assert _read(session, "SELECT _row_key FROM base_legal_entity__legal_entity WHERE credit_code = 'x'") == 0
    # not use: the catalog, and a read the server refused (never completed)
    assert _read(session, "SELECT * FROM catalog.resource") > 0
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        _read(session, "SELECT * FROM base_population.person_current LIMIT 3")

    collected = usage.collect(conn, catalog=catalog)
    today = policy.load().calendar.local_date(dt.datetime.now(dt.timezone.utc))
    assert {(u.resource_code, u.queries, u.rows_read) for u in collected} == {(POPULATION, 3, 23), (LEGAL_ENTITY, 2, 0)}
    assert all(u.usage_date == today and u.consumer_code == code for u in collected)
    assert collected.skipped == 0 and not collected.reset_detected
    assert _usage(dbs) == {(today, code, POPULATION): (3, 23), (today, code, LEGAL_ENTITY): (2, 0)}
    assert dbs.scalar("SELECT provider_code FROM evaluation.sharing_usage WHERE resource_code = %s",
                      (POPULATION,)) == "11360000014400005D"

    again = usage.collect(conn, catalog=catalog)
    assert list(again) == [] and again.statements == 0
    assert _usage(dbs) == {(today, code, POPULATION): (3, 23), (today, code, LEGAL_ENTITY): (2, 0)}

    assert _read(session, "SELECT * FROM base_population__person LIMIT 4") == 4
    out = io.StringIO()
    with session.cursor() as cur:
        cur.copy_expert("COPY (SELECT name FROM base_population__person LIMIT 6) TO STDOUT", out)
    assert len(out.getvalue().splitlines()) == 6
    more = usage.collect(conn, catalog=catalog)
    assert [(u.resource_code, u.queries, u.rows_read) for u in more] == [(POPULATION, 2, 10)]
    assert _usage(dbs) == {(today, code, POPULATION): (5, 33), (today, code, LEGAL_ENTITY): (2, 0)}
    assert dbs.scalar("SELECT count(*) FROM sharing.usage_collection") == 3


def test_use_is_attributed_to_the_day_given(dbs, consumer_session):
    conn, session, code, catalog = consumer_session
    assert _read(session, "SELECT * FROM base_population__person LIMIT 2") == 2
    day = dt.date(2026, 11, 1)
    [row] = usage.collect(conn, usage_date=day, catalog=catalog)
    assert (row.usage_date, row.queries, row.rows_read) == (day, 1, 2)
    assert _usage(dbs) == {(day, code, POPULATION): (1, 2)}


def test_unavailable_reason_is_none_where_the_server_measures_use(dbs):
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        assert usage.unavailable_reason(conn) is None
        assert dbs.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'") == 1
    finally:
        conn.close()


def test_reads_through_a_prepared_statement_are_measured(dbs, consumer_session):
    """pg_stat_statements keeps the EXECUTEs' calls and rows under "PREPARE s AS SELECT …": the
    collection parses the statement after AS, as it does after DECLARE … FOR."""
    conn, session, code, catalog = consumer_session
    with session.cursor() as cur:
        cur.execute("PREPARE s AS SELECT * FROM base_population__person LIMIT $1")
    assert [_read(session, "EXECUTE s(4)") for _ in range(2)] == [4, 4]
    collected = usage.collect(conn, catalog=catalog)
    assert [(u.resource_code, u.queries, u.rows_read) for u in collected] == [(POPULATION, 2, 8)]
    assert collected.skipped == 0


def test_an_opaque_command_of_a_consumer_is_counted_as_skipped(dbs, consumer_session):
    """A DO block reads the shared view where the parser cannot see it: not counted as use, but
    reported as skipped rather than silently ignored."""
    conn, session, code, catalog = consumer_session
    with session.cursor() as cur:
        cur.execute("DO $$ BEGIN PERFORM * FROM base_population__person; END $$")
    session.commit()
    collected = usage.collect(conn, catalog=catalog)
    assert list(collected) == []
    assert (collected.statements, collected.counted, collected.skipped) == (1, 0, 1)
    assert dbs.scalar("SELECT skipped FROM sharing.usage_collection") == 1
