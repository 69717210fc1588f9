"""COPY validated rows into a staging table, then one set-based SCD2 merge, in one transaction.

Unchanged rows are not rewritten. Changed rows update the base table and close the open
history version; new rows insert both. A full reconciliation also closes keys that vanished
from the source (flagged with ``_deleted_at``, never physically deleted). If anything fails,
the transaction rolls back and the tables are exactly as they were.

One load per resource at a time: the merge first takes the resource's load lock (a
transaction-level advisory lock, held until commit or rollback). A second load of the same
resource (a manual run beside a scheduled one, a backfill) waits, then classifies its rows
against the first one's committed result, so each change gets one history version and is
counted once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
from psycopg2 import sql

from baselib import storage
from baselib.catalog.model import Resource
from baselib.pgcopy import copy_table
from baselib.sources.extract import DELIVERY_ID
from baselib.warehouse import schema, sqlfiles

STAGING = sql.Identifier("pg_temp", "staging_rows")
CHANGES = sql.Identifier("pg_temp", "classified_rows")
EXTRACTED_KEYS = sql.Identifier("pg_temp", "extracted_keys")
DELETED = sql.Identifier("pg_temp", "deleted_keys")
LOAD_LOCK_CLASS = 0x6C6F6164  # "load": first half of the two-int advisory lock key; the second is the resource's hash


@dataclass
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    staged: int = 0
    # file deliveries: {delivery_id: {"I": n, "U": n, "N": n}} (unchanged includes stale)
    by_delivery: dict[int, dict[str, int]] = field(default_factory=dict)


def _parts(resource: Resource) -> dict[str, sql.Composable]:
    keys = resource.pipeline.key_columns
    non_keys = [c for c in resource.column_names if c not in keys]
    inc = resource.pipeline.source.incremental_column
    return {
        "table": sqlfiles.ident(resource.pipeline.target.qualified),
        "history": sqlfiles.ident(schema.history_table(resource)),
        "staging": STAGING,
        "changes": CHANGES,
        "column_names": sqlfiles.ident_list(resource.column_names),
        "first_key": sql.Identifier(keys[0]),
        "key_columns": sqlfiles.ident_list(keys),
        "key_join": sqlfiles.key_join("t", "s", keys),
        "key_join_tc": sqlfiles.key_join("t", "c", keys),
        "key_join_hc": sqlfiles.key_join("h", "c", keys),
        "stale_condition": (
            sql.SQL("t.{} > s.{}").format(sql.Identifier(inc), sql.Identifier(inc)) if inc else sql.SQL("false")
        ),
        "assignments": sql.SQL(", ").join(
            sql.SQL("{} = c.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in non_keys
        ),
    }


def lock_resource(cur, resource: Resource) -> None:
    """Wait for the resource's load lock and hold it until the transaction ends."""
    cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOAD_LOCK_CLASS, resource.code))


def merge(conn, resource: Resource, load_id: int, valid_parts: list[str], reconcile_key_parts: list[str] | None = None,
          extract_started=None) -> MergeCounts:
    """Take the load lock, stage and merge. ``reconcile_key_parts``: the full extract's parts (all
    keys, quarantined rows included) when this load reconciles deletions, with
    ``extract_started`` (timestamptz: when the extract began; keys loaded since are kept); None
    otherwise. Caller commits, which releases the lock; everything else the load writes in the
    same transaction (watermark, run record) is serialised with it."""
    if reconcile_key_parts is not None and extract_started is None:
        raise ValueError("a reconcile needs extract_started: keys loaded since the extract began must be kept")
    parts = _parts(resource)
    counts = MergeCounts()
    with conn.cursor() as cur:
        lock_resource(cur, resource)
        cur.execute("SELECT clock_timestamp()")  # after the wait: versions follow the load that held the lock
        now = cur.fetchone()[0]
        params = {"load_id": load_id, "now": now}
        cur.execute(sqlfiles.compose("templates/merge/stage", **parts))
        for uri in valid_parts:
            table = storage.read_part(uri)
            columns = resource.column_names + ([DELIVERY_ID] if DELIVERY_ID in table.column_names else [])
            counts.staged += copy_table(cur, table, STAGING, columns)
        cur.execute(sql.SQL("ANALYZE {}").format(STAGING))
        cur.execute(sqlfiles.compose("templates/merge/classify", **parts))
        cur.execute(sql.SQL("SELECT _delivery_id, _change, count(*) FROM {} GROUP BY 1, 2").format(CHANGES))
        by_change: dict[str, int] = {}
        for delivery_id, change, n in cur.fetchall():
            by_change[change] = by_change.get(change, 0) + n
            if delivery_id is not None:
                tally = counts.by_delivery.setdefault(delivery_id, {"I": 0, "U": 0, "N": 0})
                tally["N" if change == "S" else change] += n
        counts.inserted = by_change.get("I", 0)
        counts.updated = by_change.get("U", 0)
        counts.unchanged = by_change.get("N", 0) + by_change.get("S", 0)
        if counts.inserted or counts.updated:
            cur.execute(sqlfiles.compose("templates/merge/apply", **parts), params)
            cur.execute(
                sqlfiles.compose("templates/merge/resolve_quarantine", changes=CHANGES,
                                 key_columns_c=sqlfiles.ident_list(resource.pipeline.key_columns, prefix="c")),
                {**params, "resource_code": resource.code},
            )
        if reconcile_key_parts is not None:
            counts.deleted = _reconcile(cur, resource, parts, reconcile_key_parts,
                                        {**params, "extract_started": extract_started})
    return counts


def _absent(cur, resource: Resource, key_parts: list[str]) -> sql.Composed:
    """Stage the extract's keys; the query of the live keys it lacks (``templates/merge/absent``)."""
    keys = resource.pipeline.key_columns
    # text columns: a quarantined row's key may not fit the target's type, yet it still exists at the source
    cur.execute(
        sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
            EXTRACTED_KEYS, sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(k)) for k in keys)
        )
    )
    for uri in key_parts:
        table = storage.read_part(uri, keys).drop_null()
        table = table.cast(pa.schema([(k, pa.string()) for k in keys]))
        copy_table(cur, table, EXTRACTED_KEYS, keys)
    cur.execute(sql.SQL("ANALYZE {}").format(EXTRACTED_KEYS))
    return sqlfiles.compose(
        "templates/merge/absent",
        table=sqlfiles.ident(resource.pipeline.target.qualified),
        extracted_keys=EXTRACTED_KEYS,
        key_columns_t=sqlfiles.ident_list(keys, prefix="t"),
        key_join_tk=sql.SQL(" AND ").join(
            sql.SQL("{}::text = {}").format(sql.Identifier("t", k), sql.Identifier("k", k)) for k in keys
        ),
    )


def count_absent(conn, resource: Resource, key_parts: list[str], extract_started) -> int:
    """How many live keys a reconcile of this extract would flag deleted (validation blocks above
    ``max_deleted_share``). ``key_parts``: every part of the full extract; ``extract_started``:
    when the extract began (timestamptz). Caller commits."""
    with conn.cursor() as cur:
        absent = _absent(cur, resource, key_parts)
        cur.execute(sql.SQL("SELECT count(*) FROM ({}) AS a").format(absent), {"extract_started": extract_started})
        return cur.fetchone()[0]


def _reconcile(cur, resource: Resource, parts: dict, key_parts: list[str], params: dict) -> int:
    keys = resource.pipeline.key_columns
    cur.execute(
        sqlfiles.compose(
            "templates/merge/reconcile",
            absent=_absent(cur, resource, key_parts),
            table=parts["table"],
            history=parts["history"],
            deleted=DELETED,
            key_join_td=sqlfiles.key_join("t", "d", keys),
            key_join_hd=sqlfiles.key_join("h", "d", keys),
        ),
        params,
    )
    cur.execute(sql.SQL("SELECT count(*) FROM {}").format(DELETED))
    return cur.fetchone()[0]
