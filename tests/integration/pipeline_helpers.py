"""What the pipeline integration tests share: running a resource for an interval, accounting,
and checksums of everything a load may touch."""
from __future__ import annotations

import itertools

from baselib import pipeline
from baselib.catalog import Resource, load_catalog
from baselib.warehouse import schema

_runs = itertools.count()


def catalog_entry(target: str) -> Resource:
    return next(r for r in load_catalog() if r.pipeline.target.qualified == target)


def run_info(resource: Resource, interval, mode: str = "auto") -> pipeline.RunInfo:
    """A fresh run (new run id) of ``interval``."""
    return pipeline.RunInfo(dag_id=resource.dag_id, run_id=f"test__{next(_runs)}", logical_date=interval[0],
                            data_interval_start=interval[0], data_interval_end=interval[1], mode=mode)


def run(resource: Resource, interval, mode: str = "auto") -> dict:
    """All four steps in-process, as a fresh run (new run id) of ``interval``."""
    return pipeline.run(resource, run_info(resource, interval, mode))


def validated(resource: Resource, interval, mode: str = "auto") -> dict:
    """Extract and validate a fresh run of ``interval``; its load is left to the test."""
    return pipeline.validate(resource, pipeline.extract(resource, run_info(resource, interval, mode)))


def look_back_rows(dbs, summary: dict, source_table: str, until, db: str = "source") -> int:
    """Source rows an incremental run re-read below the previous watermark (its look-back margin),
    counted up to ``until`` (exclusive: before the test's own changes). They load as unchanged."""
    lower = dbs.scalar("SELECT watermark_from FROM ops.load_run WHERE load_id = %s", (summary["load_id"],))
    # source_table comes from the test, not from input
    return dbs.scalar(f"SELECT count(*) FROM {source_table} WHERE updated_at > %s AND updated_at < %s",
                      (lower, until), db=db)


def fill_source(dbs, rows=2000, rates=None):
    """A fresh simulated public-security source (seeded) of ``rows`` people with defects at ``rates``."""
    from baselib_simulators import population
    from tests.conftest import AS_OF

    conn = dbs.source()
    try:
        return population.create(conn, rows=rows, seed=11, as_of=AS_OF, rates=rates)
    finally:
        conn.close()


def change_source(dbs, **kwargs):
    """Apply :func:`baselib_simulators.population.apply_changes` to the public-security source."""
    from baselib_simulators import population

    conn = dbs.source()
    try:
        return population.apply_changes(conn, **kwargs)
    finally:
        conn.close()


def table_digest(dbs, table: str) -> str:
    # table names come from the catalog (validated identifiers), not from input
    return dbs.scalar(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t")


def load_snapshot(dbs, resource: Resource) -> tuple:
    """Checksums of the base table, its history and the watermarks, plus the row count."""
    target = resource.pipeline.target.qualified
    return (table_digest(dbs, target), table_digest(dbs, schema.history_table(resource)),
            table_digest(dbs, "ops.watermark"), dbs.scalar(f"SELECT count(*) FROM {target}"))


def assert_accounted(summary: dict) -> None:
    assert summary["status"] == "success"
    assert summary["rows_extracted"] == (summary["rows_inserted"] + summary["rows_updated"]
                                         + summary["rows_unchanged"] + summary["rows_quarantined"])


def fail_inserts_into(dbs, table: str) -> None:
    """A real failure inside the load's transaction: a trigger makes every insert into ``table``
    raise, as a full disk would. Undo with :func:`stop_failing`."""
    from psycopg2 import sql

    from baselib.warehouse import sqlfiles

    conn = dbs.warehouse()
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE FUNCTION pg_temp_fail() RETURNS trigger LANGUAGE plpgsql AS "
                        "$$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$")
            cur.execute(sql.SQL("CREATE TRIGGER fail_inserts BEFORE INSERT ON {} FOR EACH ROW "
                                "EXECUTE FUNCTION pg_temp_fail()").format(sqlfiles.ident(table)))
        conn.commit()
    finally:
        conn.close()


def stop_failing(dbs, table: str) -> None:
    from psycopg2 import sql

    from baselib.warehouse import sqlfiles

    conn = dbs.warehouse()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP TRIGGER fail_inserts ON {}").format(sqlfiles.ident(table)))
        conn.commit()
    finally:
        conn.close()

