"""Write rejected rows to ``ops.quarantine`` with their reasons, for quality officers."""
from __future__ import annotations

from psycopg2 import sql

from baselib import storage
from baselib.pgcopy import copy_table
from baselib.warehouse import sqlfiles

COLUMNS = ["record_key", "source_row", "failed_expectations", "reason", "delivery_id", "source_ref"]


def record(conn, resource_code: str, load_id: int, rejected_parts: list[str]) -> int:
    """Upsert every rejected row of a load. Returns the number of rows read. Caller commits."""
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS rejected_rows "
            "(record_key text, source_row text, failed_expectations text, reason text, delivery_id bigint, "
            "source_ref text) ON COMMIT DELETE ROWS"
        )
        rows = 0
        for uri in rejected_parts:
            rows += copy_table(cur, storage.read_part(uri, COLUMNS), sql.Identifier("pg_temp", "rejected_rows"), COLUMNS)
        if rows:
            cur.execute(sqlfiles.text("queries/quarantine_upsert"), {"resource_code": resource_code, "load_id": load_id})
    return rows
