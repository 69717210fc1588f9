"""Load validated rows into the resource's SCD2 table, set-based, in one transaction.

Storage: one SCD2 table per resource (``<table>_history``) holds every version; the base table's
name is a view of the open versions, the consumer view of the live ones (baselib.warehouse.schema).

* First load (the SCD2 table has no rows): the table is truncated in this transaction, its
  indexes dropped, the valid parts COPYed straight in with ``FREEZE`` and their bookkeeping
  columns filled in Arrow, then the indexes are built again and the table ANALYZEd.
* Later loads: the parts are COPYed into a temporary staging table; one join against the open
  versions (partial unique index) classifies each row (``templates/merge/classify``); one UPDATE
  closes the versions of changed keys and one INSERT opens their new versions. Unchanged rows are
  not rewritten (a stored hash from another algorithm is rewritten in place when the values are
  equal, never made a version).
* A full reconciliation closes the open version of each key that vanished from the source and
  opens a tombstone (``_change`` 'D', ``_deleted_at`` set): nothing is physically deleted. A
  scoped one (an incremental theme refresh, ``reconcile_scope_parts``) judges only the open rows
  whose refresh key the refresh recomputed.

Row hashes come from :mod:`baselib.loading.changes`: the valid parts carry ``_row_hash`` when
validation computed it, otherwise the merge computes it. If anything fails, the transaction
rolls back and the table is exactly as it was.

One load per resource at a time: the merge first takes the resource's load lock (a
transaction-level advisory lock, held until commit or rollback). A second load of the same
resource (a manual run beside a scheduled one, a backfill) waits, then classifies its rows
against the first one's committed result, so each change gets one version and is counted once.

Rows validation set aside as unchanged (incremental and reconcile runs,
:mod:`baselib.validation.executor`) travel in their own parts with the resource's
:func:`committed_loads` token read before validation probed them. Under the lock the merge reads
the token again: unchanged, no load committed since the probe, so those rows still equal their
open versions and are not read at all; moved, another load may have changed or deleted their
keys, so they are staged and classified with the valid rows (they equal a version that passed
validation: no re-validation), and :attr:`MergeCounts.reclassified` tells the caller they are
already in the counts.
"""
from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg2 import sql

from baselib import storage
from baselib.catalog.model import Resource
from baselib.loading.changes import ROW_HASH, with_row_hash
from baselib.pgcopy import copy_table
from baselib.records.progress import Progress
from baselib.sharing import objections
from baselib.sources.extract import DELIVERY_ID
from baselib.warehouse import schema, sqlfiles

STAGING = sql.Identifier("pg_temp", "staging_rows")
CHANGES = sql.Identifier("pg_temp", "classified_rows")
EXTRACTED_KEYS = sql.Identifier("pg_temp", "extracted_keys")
SCOPE_KEYS = sql.Identifier("pg_temp", "scope_keys")
DELETED = sql.Identifier("pg_temp", "deleted_keys")
log = logging.getLogger(__name__)

LOAD_LOCK_CLASS = 0x6C6F6164  # "load": first half of the two-int advisory lock key; the second is the resource's hash

# Bookkeeping columns a first load writes beside the items and the row hash.
_FIRST_LOAD_COLUMNS = ["_valid_from", "_load_id", "_change", DELIVERY_ID, "_first_loaded_at"]


@dataclass
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    staged: int = 0
    copy_seconds: float = 0.0   # COPYing the valid parts into staging (or the history, first load)
    merge_seconds: float = 0.0  # classifying and applying the staged rows, reconciling deletions
    reclassified: bool = False  # the rows set aside as unchanged were staged and classified (in the counts)
    # file deliveries: {delivery_id: {"I": n, "U": n, "N": n}} (unchanged includes stale)
    by_delivery: dict[int, dict[str, int]] = field(default_factory=dict)


def _parts(resource: Resource) -> dict[str, sql.Composable]:
    keys = resource.pipeline.key_columns
    inc = resource.pipeline.source.incremental_column
    return {
        "history": sqlfiles.ident(schema.history_table(resource)),
        "staging": STAGING,
        "changes": CHANGES,
        "column_names": sqlfiles.ident_list(resource.column_names),
        "column_names_h": sqlfiles.ident_list(resource.column_names, prefix="h"),
        "column_names_s": sqlfiles.ident_list(resource.column_names, prefix="s"),
        "key_columns": sqlfiles.ident_list(keys),
        "key_join": sqlfiles.key_join("h", "s", keys),
        "key_join_hc": sqlfiles.key_join("h", "c", keys),
        "stale_condition": (
            sql.SQL("h.{} > s.{}").format(sql.Identifier(inc), sql.Identifier(inc)) if inc else sql.SQL("false")
        ),
    }


def lock_resource(cur, resource: Resource) -> None:
    """Wait for the resource's load lock and hold it until the transaction ends."""
    cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOAD_LOCK_CLASS, resource.code))


def _hashed(uri: str, resource: Resource) -> pa.Table:
    """A valid part with its ``_row_hash`` (computed when validation did not)."""
    table = storage.read_part(uri)
    return table if ROW_HASH in table.column_names else with_row_hash(table, resource)


_CSV = pacsv.WriteOptions(include_header=False, quoting_style="needed")  # as baselib.pgcopy: NULL bare, text quoted


def _csv_parts(valid_parts: list[str], resource: Resource,
               shape: Callable[[pa.Table], pa.Table]) -> Iterator[tuple[pa.Table, io.BytesIO]]:
    """(part with its row hash, CSV of ``shape(part)``) per valid part, in order. The next part
    is read, hashed and written in a worker thread while the caller COPYs the current one: Arrow
    and libpq release the GIL, so on two cores the preparation hides behind the server's work."""
    def prepare(uri: str) -> tuple[pa.Table, io.BytesIO]:
        table = _hashed(uri, resource)
        buf = io.BytesIO()
        if table.num_rows:
            pacsv.write_csv(shape(table), buf, _CSV)
        buf.seek(0)
        return table, buf

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="merge-csv") as pool:
        pending = None
        for uri in valid_parts:
            following = pool.submit(prepare, uri)
            if pending is not None:
                yield pending.result()
            pending = following
        if pending is not None:
            yield pending.result()


def committed_loads(conn, resource: Resource) -> int:
    """The resource's committed-load token: how many of its runs are ``loaded`` or ``success``
    (``templates/merge/committed_loads``). It moves whenever a load of the resource commits."""
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("templates/merge/committed_loads"), {"resource_code": resource.code})
        return cur.fetchone()[0]


def merge(conn, resource: Resource, load_id: int, valid_parts: list[str], reconcile_key_parts: list[str] | None = None,
          extract_started=None, unchanged_parts: list[str] | None = None,
          committed_at_validation: int | None = None, reconcile_scope_parts: list[str] | None = None) -> MergeCounts:
    """Take the load lock, then load ``valid_parts`` (Parquet URIs with the item columns, maybe
    ``_delivery_id`` and ``_row_hash``) into the SCD2 table: the first-load path when the table
    has no rows, the staged classification otherwise. ``reconcile_key_parts``: the full
    extract's parts (all keys, quarantined rows included) when this load reconciles deletions,
    with ``extract_started`` (timestamptz: when the extract began; keys loaded since are kept);
    None otherwise. ``reconcile_scope_parts`` (with ``reconcile_key_parts``): Parquet parts of
    refresh-key values (text columns named like ``resource.refresh_key``); only open rows whose
    refresh key is among them may be flagged deleted (an incremental theme refresh); None: every
    live row may. ``unchanged_parts`` (with ``_row_hash``): the rows validation set aside as
    unchanged, and ``committed_at_validation`` the :func:`committed_loads` token it read before
    probing them: if the token moved, they are merged with ``valid_parts`` and
    ``counts.reclassified`` is True; if not (or the token is None), they are not read. Returns
    row counts; raises ValueError for a reconcile without ``extract_started``. Caller commits,
    which releases the lock; everything else the load writes in the same transaction (watermark,
    run record) is serialised with it."""
    if reconcile_key_parts is not None and extract_started is None:
        raise ValueError("a reconcile needs extract_started: keys loaded since the extract began must be kept")
    parts = _parts(resource)
    counts = MergeCounts()
    with conn.cursor() as cur:
        lock_resource(cur, resource)
        if unchanged_parts and committed_at_validation is not None \
                and committed_loads(conn, resource) != committed_at_validation:
            valid_parts = [*valid_parts, *unchanged_parts]  # another load committed since the probe
            counts.reclassified = True
        cur.execute("SELECT clock_timestamp()")  # after the wait: versions follow the load that held the lock
        now = cur.fetchone()[0]
        params = {"load_id": load_id, "now": now}
        cur.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(parts["history"]))
        if cur.fetchone()[0]:
            _first_load(cur, resource, parts, valid_parts, load_id, now, counts)
            # every key was loaded just now: a reconcile in the same load has nothing to delete
            return counts
        _staged_merge(cur, resource, parts, valid_parts, params, counts)
        if reconcile_key_parts is not None:
            started = time.monotonic()
            counts.deleted = _reconcile(cur, resource, parts, reconcile_key_parts,
                                        {**params, "extract_started": extract_started}, reconcile_scope_parts)
            counts.merge_seconds += time.monotonic() - started
    return counts


def _resolve_quarantine(cur, resource: Resource, changes: sql.Composable, params: dict) -> None:
    cur.execute(
        sqlfiles.compose("templates/merge/resolve_quarantine", changes=changes,
                         key_columns_c=sqlfiles.ident_list(resource.pipeline.key_columns, prefix="c")),
        {**params, "resource_code": resource.code},
    )


def _staged_merge(cur, resource: Resource, parts: dict, valid_parts: list[str], params: dict,
                  counts: MergeCounts) -> None:
    cur.execute(sqlfiles.compose("templates/merge/stage", **parts))
    def shape(table: pa.Table) -> pa.Table:
        columns = resource.column_names + [ROW_HASH]
        delivery = table.column(DELIVERY_ID) if DELIVERY_ID in table.column_names else pa.nulls(table.num_rows, pa.int64())
        return table.select(columns).append_column(DELIVERY_ID, delivery)

    statement = sqlfiles.compose("templates/merge/stage_copy", staging=STAGING, columns=sqlfiles.ident_list(
        resource.column_names + [ROW_HASH, DELIVERY_ID])).as_string(cur)
    progress = Progress(log, f"{resource.code}: load: COPY into staging")
    for table, buf in _csv_parts(valid_parts, resource, shape):
        if table.num_rows:
            cur.copy_expert(statement, buf, size=1 << 20)
            counts.staged += table.num_rows
        progress.add(table.num_rows)
    counts.copy_seconds = progress.done()
    started = time.monotonic()
    cur.execute(sql.SQL("ANALYZE {}").format(STAGING))
    cur.execute(sqlfiles.compose("templates/merge/classify", **parts))
    cur.execute(sql.SQL("SELECT _delivery_id, _change, count(*) FROM {} GROUP BY 1, 2").format(CHANGES))
    by_change: dict[str, int] = {}
    for delivery_id, change, n in cur.fetchall():
        by_change[change] = by_change.get(change, 0) + n
        if delivery_id is not None:
            tally = counts.by_delivery.setdefault(delivery_id, {"I": 0, "U": 0, "N": 0})
            tally[change if change in ("I", "U") else "N"] += n
    counts.inserted = by_change.get("I", 0)
    counts.updated = by_change.get("U", 0)
    counts.unchanged = by_change.get("N", 0) + by_change.get("S", 0) + by_change.get("R", 0)
    if by_change.get("R"):
        cur.execute(sqlfiles.compose("templates/merge/rehash", **parts))
    if counts.inserted or counts.updated:
        # before apply: the open versions are still the ones the load replaces
        objections.resolve_by_load(cur, resource, CHANGES, params)
        cur.execute(sqlfiles.compose("templates/merge/apply", **parts), params)
        _resolve_quarantine(cur, resource, CHANGES, params)
    counts.merge_seconds = time.monotonic() - started


def _first_load(cur, resource: Resource, parts: dict, valid_parts: list[str], load_id: int, now,
                counts: MergeCounts) -> None:
    """Truncate (so COPY may FREEZE), drop the indexes, COPY every part with its bookkeeping
    columns, build the indexes again, ANALYZE. The caller holds the load lock."""
    history = parts["history"]
    cur.execute(sqlfiles.text("templates/merge/table_indexes"), {"table": schema.history_table(resource)})
    indexes = cur.fetchall()
    cur.execute(sql.SQL("TRUNCATE {}").format(history))
    for name, _ in indexes:
        cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(resource.pipeline.target.schema_name, name)))
    columns = resource.column_names + [ROW_HASH] + _FIRST_LOAD_COLUMNS
    statement = sqlfiles.compose("templates/merge/first_load_copy", history=history,
                                 columns=sqlfiles.ident_list(columns)).as_string(cur)
    # the load's instant as text, once: the CSV writer formats a timestamp column about 20x slower
    # than it writes a text one, and PostgreSQL parses either
    stamp = pa.scalar(now.isoformat(), pa.string())

    def shape(table: pa.Table) -> pa.Table:
        n = table.num_rows
        rows = table.select(resource.column_names + [ROW_HASH])
        delivery = table.column(DELIVERY_ID) if DELIVERY_ID in table.column_names else pa.nulls(n, pa.int64())
        for name, values in (("_valid_from", pa.repeat(stamp, n)), ("_load_id", pa.repeat(pa.scalar(load_id), n)),
                             ("_change", pa.repeat(pa.scalar("I"), n)), (DELIVERY_ID, delivery),
                             ("_first_loaded_at", pa.repeat(stamp, n))):
            rows = rows.append_column(name, values)
        return rows

    progress = Progress(log, f"{resource.code}: load: COPY into the history (first load)")
    for table, buf in _csv_parts(valid_parts, resource, shape):
        n = table.num_rows
        progress.add(n)
        if n == 0:
            continue
        cur.copy_expert(statement, buf, size=1 << 20)
        counts.staged += n
        delivery = table.column(DELIVERY_ID) if DELIVERY_ID in table.column_names else None
        if delivery is not None:
            for delivery_id, k in _value_counts(delivery).items():
                tally = counts.by_delivery.setdefault(delivery_id, {"I": 0, "U": 0, "N": 0})
                tally["I"] += k
    counts.inserted = counts.staged
    counts.copy_seconds = progress.done()
    started = time.monotonic()
    for _, definition in indexes:
        cur.execute(definition)
    cur.execute(sql.SQL("ANALYZE {}").format(history))
    if counts.inserted:
        # every row of the table is an 'I' version of this load: it is its own change list
        _resolve_quarantine(cur, resource, history, {"load_id": load_id, "now": now})
    counts.merge_seconds = time.monotonic() - started


def _value_counts(values) -> dict[int, int]:
    counted = pa.chunked_array([values]) if isinstance(values, pa.Array) else values
    result = {}
    for entry in counted.value_counts().to_pylist():
        if entry["values"] is not None:
            result[int(entry["values"])] = entry["counts"]
    return result


def _stage_keys(cur, table: sql.Identifier, columns: list[str], parts: list[str]) -> None:
    """A temporary text table of ``columns`` filled from ``parts`` (rows with a NULL dropped), ANALYZEd."""
    cur.execute(
        sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
            table, sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(k)) for k in columns)
        )
    )
    for uri in parts:
        part = storage.read_part(uri, columns).drop_null()
        copy_table(cur, part.cast(pa.schema([(k, pa.string()) for k in columns])), table, columns)
    cur.execute(sql.SQL("ANALYZE {}").format(table))


def _absent(cur, resource: Resource, key_parts: list[str], scope_parts: list[str] | None = None) -> sql.Composed:
    """Stage the extract's keys (and the scope's refresh keys); the query of the live keys it
    lacks (``templates/merge/absent``), within the scope when one is given."""
    keys = resource.pipeline.key_columns
    scope = sql.SQL("")
    if scope_parts is not None:
        refresh_key = resource.refresh_key
        _stage_keys(cur, SCOPE_KEYS, refresh_key, scope_parts)
        scope = sqlfiles.compose("templates/merge/in_scope", scope_keys=SCOPE_KEYS, scope_join=sql.SQL(" AND ").join(
            sql.SQL("{}::text = {}").format(sql.Identifier("h", k), sql.Identifier("s", k)) for k in refresh_key))
    # text columns: a quarantined row's key may not fit the target's type, yet it still exists at the source
    _stage_keys(cur, EXTRACTED_KEYS, keys, key_parts)
    return sqlfiles.compose(
        "templates/merge/absent",
        history=sqlfiles.ident(schema.history_table(resource)),
        extracted_keys=EXTRACTED_KEYS,
        scope=scope,
        key_columns_h=sqlfiles.ident_list(keys, prefix="h"),
        key_join_hk=sql.SQL(" AND ").join(
            sql.SQL("{}::text = {}").format(sql.Identifier("h", k), sql.Identifier("k", k)) for k in keys
        ),
    )


def count_absent(conn, resource: Resource, key_parts: list[str], extract_started,
                 scope_parts: list[str] | None = None) -> int:
    """How many live keys a reconcile of this extract would flag deleted (validation blocks above
    ``max_deleted_share``). ``key_parts``: every part of the extract; ``extract_started``:
    when the extract began (timestamptz); ``scope_parts``: as :func:`merge`'s
    ``reconcile_scope_parts`` (None: every live key). Caller commits."""
    with conn.cursor() as cur:
        absent = _absent(cur, resource, key_parts, scope_parts)
        cur.execute(sql.SQL("SELECT count(*) FROM ({}) AS a").format(absent), {"extract_started": extract_started})
        return cur.fetchone()[0]


def _reconcile(cur, resource: Resource, parts: dict, key_parts: list[str], params: dict,
               scope_parts: list[str] | None = None) -> int:
    keys = resource.pipeline.key_columns
    cur.execute(
        sqlfiles.compose(
            "templates/merge/reconcile",
            absent=_absent(cur, resource, key_parts, scope_parts),
            history=parts["history"],
            column_names=parts["column_names"],
            deleted=DELETED,
            key_join_hd=sqlfiles.key_join("h", "d", keys),
        ),
        params,
    )
    cur.execute(sql.SQL("SELECT count(*) FROM {}").format(DELETED))
    deleted = cur.fetchone()[0]
    if deleted:
        objections.resolve_deleted(cur, resource, DELETED, params)  # the wrong value is no longer served
    return deleted
