"""The indexes a theme's refresh needs on its inputs, derived from the catalog entry.

For each input ``schema.table`` (its SCD2 table ``schema.table_history``):

* a partial index on the mapped ``columns`` over the open versions (``WHERE _valid_to IS NULL``):
  the model, filtered on the refresh key, looks the input up by them; skipped when they are the
  input's key (its partial unique index serves);
* one on each ``ages`` column over the open versions: the input-age window;
* when the model reads the input's SCD2 table itself (``schema.table_history``: earlier
  versions), one on the mapped ``columns`` over every version;
* one on ``_load_id`` and one on ``_closed_by_load_id``: the versions of the new input loads.

Created idempotently (``CREATE INDEX IF NOT EXISTS``) at the start of the theme's extract, in a
transaction of their own; an input whose table does not exist yet is skipped (the model's
query then fails and names it). Merges of the inputs keep them (a first load drops and rebuilds
every index of the table).

Plain ``CREATE INDEX``, not ``CONCURRENTLY``: in practice on the theme's first run only (later
runs find them and create nothing, checked before any DDL since even ``IF NOT EXISTS`` takes the
lock). While one builds, it holds a SHARE lock on the input's history table: readers (consumers,
other themes) go on, the input's own load waits until the build (one scan and sort of the
table) is done. ``CONCURRENTLY`` would not block the load, but it cannot run in a transaction, waits
for every older transaction in the database, and leaves an INVALID index behind when interrupted
(which ``IF NOT EXISTS`` would then keep); not worth it for a one-off build.
"""
from __future__ import annotations

import hashlib

from psycopg2 import sql

from baselib.catalog.model import Resource
from baselib.warehouse import connections, sqlfiles

INDEX_LOCK = 0x74686D69  # "thmi": one theme at a time creates input indexes


def index_name(table: str, suffix: str) -> str:
    """``<table>_history_<suffix>``, shortened with a hash to PostgreSQL's 63 bytes."""
    name = f"{table}_history_{suffix}"
    if len(name.encode()) <= 63:
        return name
    return f"{name[:50]}_{hashlib.md5(name.encode()).hexdigest()[:8]}"


def planned(resource: Resource) -> list[tuple[str, str, list[str], bool]]:
    """``(history table, index name, columns, open versions only)`` of the indexes ``resource``
    (a theme) needs on its inputs."""
    from baselib.themes import model as theme_model

    read = set(theme_model.analyse(theme_model.model_text(resource)).tables)
    out = []
    for theme_input in resource.pipeline.source.inputs:
        schema_name, table = theme_input.table.split(".")
        history = f"{schema_name}.{table}_history"
        for columns in [list(theme_input.columns)] + [[a.column] for a in theme_input.ages]:
            out.append((history, index_name(table, "_".join(columns) + "_open"), columns, True))
        if history in read:
            columns = list(theme_input.columns)
            out.append((history, index_name(table, "_".join(columns) + "_all"), columns, False))
    return out


def _served(cur, history: str, columns: list[str], partial: bool) -> bool:
    """Whether an index (on the open versions when ``partial``, else on every version) already
    leads with ``columns`` (e.g. the input's key index)."""
    cur.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass", (history,))
    lead = "USING btree (" + ", ".join(columns)
    return any(lead + tail in d and (d.endswith("WHERE (_valid_to IS NULL)") if partial else " WHERE " not in d)
               for (d,) in cur.fetchall() for tail in (")", ","))


def _exists(cur, history: str, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{history.split('.')[0]}.{name}",))
    return cur.fetchone()[0]


def ensure(resource: Resource) -> list[str]:
    """Create the indexes a theme's refresh needs on its inputs that exist (:func:`planned`, and
    the load-id indexes), skipping those already there or served by another index. Commits;
    returns the names of the indexes it created."""
    created = []
    with connections.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (INDEX_LOCK,))
        for history, name, columns, partial in planned(resource):
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (history,))
            if not cur.fetchone()[0]:
                continue
            # checked first: CREATE INDEX locks the table (SHARE) even when the index exists
            if not _exists(cur, history, name) and not _served(cur, history, columns, partial):
                cur.execute(sqlfiles.compose("templates/theme/input_index", index=sql.Identifier(name),
                                             history=sqlfiles.ident(history), columns=sqlfiles.ident_list(columns),
                                             open_only=sql.SQL(" WHERE _valid_to IS NULL" if partial else "")))
                created.append(name)
            table = history.split(".")[1].removesuffix("_history")
            opened, closed = index_name(table, "load_id"), index_name(table, "closed_by_load_id")
            if not (_exists(cur, history, opened) and _exists(cur, history, closed)):
                cur.execute(sqlfiles.compose("templates/theme/input_load_index", history=sqlfiles.ident(history),
                                             opened_name=sql.Identifier(opened), closed_name=sql.Identifier(closed)))
                created += [opened, closed]
    return created
