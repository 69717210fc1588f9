"""A theme's refresh state and the refresh keys an incremental refresh recomputes.

State (``include/sql/ddl/060_theme_refresh.sql``): ``ops.theme_input_load`` lists the input loads
each theme has consumed; ``ops.theme_refresh`` the last refresh's as-of instant, model fingerprint
and load. Both are written by :func:`record` in the theme's load transaction, so a failed or
blocked run consumes nothing and the next run recomputes the same keys.

Mode (:func:`resolve_mode`): ``full`` on the first refresh and when asked, ``reconcile`` when
asked or when the model's fingerprint changed (every key recomputed and every vanished key
flagged deleted), ``incremental`` otherwise (only the affected refresh keys).

Affected keys (:func:`create_affected`), read inside the extract's snapshot:

* the new input loads: committed loads of each input not yet consumed by the theme
  (``queries/theme_new_input_loads``);
* the input columns' values of every history version those loads opened or closed, where the
  input's ``when`` holds (``templates/theme/changed_keys``);
* for each ``ages`` entry, the keys of open input versions whose ``column + after`` (the *age
  instant*; a ``date`` column is read as a day in Asia/Shanghai) lies between the previous
  refresh's as-of and this one's (``templates/theme/aged_keys``): in ``(min, max]`` of the two, in
  whichever order they come. A model reads its inputs' current rows, so it is "as of" only in its
  date-dependent parts, and those are exactly the keys whose age instant the move crossed, forwards
  (a daily run) or backwards (a rerun, clear or backfill of an earlier interval after a later run).
  The bounds match the model's own test ``column + after <= as_of``: an instant equal to an as-of
  counts as passed at it. So any sequence of runs leaves the theme equal to the model evaluated
  unrestricted at the latest run's as-of;
* the keys an earlier load quarantined (``ops.theme_pending_key``, ``templates/theme/pending_keys``):
  their older row stayed open and the input loads that touched them were consumed, so they are
  recomputed until a row for them loads (:func:`record`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg2 import sql

from baselib.catalog.model import Resource
from baselib.errors import BaselibError, SourceError
from baselib.themes.model import ZONE
from baselib.warehouse import schema, sqlfiles

AFFECTED = sql.Identifier("pg_temp", "theme_affected_keys")
LOCAL_TYPES = ("date", "timestamp without time zone")  # read as Asia/Shanghai wall time


class RefreshConflict(BaselibError):
    """Another refresh of the theme committed after this run's extract read the state: its rows
    may be older than what is stored. Nothing was loaded; run the theme again."""


@dataclass(frozen=True)
class State:
    as_of: dt.datetime
    fingerprint: str
    load_id: int


def state(cur, resource: Resource) -> State | None:
    """The theme's last committed refresh, or None before its first."""
    cur.execute(sqlfiles.text("queries/theme_refresh_state"), {"theme_code": resource.code})
    row = cur.fetchone()
    return State(*row) if row else None


def resolve_mode(cur, resource: Resource, requested: str, fingerprint: str) -> str:
    """The mode a theme run records: ``requested`` is auto/full/incremental/reconcile."""
    previous = state(cur, resource)
    if requested == "reconcile" or (previous is not None and previous.fingerprint != fingerprint):
        return "reconcile"
    if requested == "full" or previous is None:
        return "full"
    return "incremental"


def input_codes(cur, resource: Resource) -> dict[str, str]:
    """Input table -> resource code, from the published catalog. Raises SourceError naming an
    input no run has published yet (it has no table or loads either)."""
    tables = [i.table for i in resource.pipeline.source.inputs]
    cur.execute(sqlfiles.text("queries/theme_input_codes"), {"tables": tables})
    codes = dict(cur.fetchall())
    missing = [t for t in tables if t not in codes]
    if missing:
        raise SourceError(f"{resource.code}: input(s) {missing} have never been loaded into this warehouse: "
                          "run their pipelines first")
    return codes


def new_input_loads(cur, resource: Resource, codes: dict[str, str]) -> list[tuple[int, str]]:
    """``(load_id, input code)`` of the committed input loads the theme has not consumed."""
    cur.execute(sqlfiles.text("queries/theme_new_input_loads"),
                {"input_codes": sorted(set(codes.values())), "theme_code": resource.code})
    return [(int(load_id), code) for load_id, code in cur.fetchall()]


def _column_type(cur, history: str, column: str) -> str:
    cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped", (history, column))
    row = cur.fetchone()
    if row is None:
        raise SourceError(f"{history} has no column {column!r}")
    return row[0]


def _when(theme_input) -> sql.Composable:
    if theme_input.when is None:
        return sql.SQL("")
    return sql.SQL(" AND {}::text = {}").format(sql.Identifier(theme_input.when.column),
                                               sql.Literal(theme_input.when.equals))


def affected_queries(cur, resource: Resource, loads: list[tuple[int, str]], codes: dict[str, str],
                     previous_as_of: dt.datetime | None, as_of: dt.datetime) -> list[sql.Composed]:
    """One SELECT per input (changed keys) and per input age (aged keys), each returning the input
    columns mapped to the refresh key, and one of the theme's pending keys (an empty result when
    it has none). Values are bound as literals by psycopg2."""
    theme_history = schema.history_table(resource)
    queries = [sqlfiles.compose(
        "templates/theme/pending_keys", theme_code=sql.Literal(resource.code),
        columns=sql.SQL(", ").join(sql.SQL("(p.refresh_key[{}])::{}").format(
            sql.Literal(n), sql.SQL(_column_type(cur, theme_history, k)))  # a type name from the catalog
            for n, k in enumerate(resource.refresh_key, start=1)))]
    for theme_input in resource.pipeline.source.inputs:
        schema_name, table = theme_input.table.split(".")
        history = f"{schema_name}.{table}_history"
        columns = sqlfiles.ident_list(theme_input.columns)
        ids = [load_id for load_id, code in loads if code == codes[theme_input.table]]
        if ids:
            queries.append(sqlfiles.compose("templates/theme/changed_keys", columns=columns,
                                            history=sqlfiles.ident(history),
                                            loads=sql.SQL("{}::bigint[]").format(sql.Literal(ids)),
                                            when=_when(theme_input)))
        if previous_as_of is None:
            continue
        lower, upper = sorted((previous_as_of, as_of))  # symmetric: as-of may move backwards
        if lower == upper:
            continue
        for age in theme_input.ages:
            column = sql.Identifier(age.column)
            after = sql.SQL("{}::interval").format(sql.Literal(age.after))
            bounds = {"lower": sql.SQL("{}::timestamptz").format(sql.Literal(lower)),
                      "upper": sql.SQL("{}::timestamptz").format(sql.Literal(upper))}
            zone = sql.Literal(ZONE)
            if _column_type(cur, history, age.column) in LOCAL_TYPES:
                local = {f"{k}_local": sql.SQL("({} AT TIME ZONE {})").format(v, zone) for k, v in bounds.items()}
                instant = sql.SQL("(({} + {}) AT TIME ZONE {})").format(column, after, zone)
            else:
                local = {f"{k}_local": v for k, v in bounds.items()}
                instant = sql.SQL("({} + {})").format(column, after)
            queries.append(sqlfiles.compose("templates/theme/aged_keys", columns=columns,
                                            history=sqlfiles.ident(history), when=_when(theme_input),
                                            column=column, after=after, instant=instant, **bounds, **local))
    return queries


def create_affected(cur, resource: Resource, loads: list[tuple[int, str]], codes: dict[str, str],
                    previous_as_of: dt.datetime | None, as_of: dt.datetime) -> int:
    """Create the temporary table of affected refresh keys (:data:`AFFECTED`, columns named like
    the refresh key, the inputs' types, distinct, no NULLs), ANALYZE it; return its row count."""
    refresh_key = resource.refresh_key
    queries = affected_queries(cur, resource, loads, codes, previous_as_of, as_of)
    union = sql.SQL(" UNION ").join(sql.SQL("({})").format(q) for q in queries)
    cur.execute(sqlfiles.compose(
        "templates/theme/affected", affected=AFFECTED, union=union, refresh_key=sqlfiles.ident_list(refresh_key),
        not_null=sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(k)) for k in refresh_key)))
    cur.execute(sql.SQL("ANALYZE {}").format(AFFECTED))
    cur.execute(sql.SQL("SELECT count(*) FROM {}").format(AFFECTED))
    return cur.fetchone()[0]


def record(conn, resource: Resource, load_id: int, mode: str, theme: dict) -> None:
    """In the theme's load transaction, after the merge (whose load lock serialises this): record
    the consumed input loads and the refresh, and replace the theme's pending keys by the refresh
    keys of the rows this load quarantined (validation recorded them in ``ops.quarantine``; every
    key pending before was recomputed by this refresh: ``queries/theme_pending_keys``). ``theme``:
    the extract's ``theme`` dict (``as_of`` ISO text, ``fingerprint``, ``input_loads``
    [[load_id, code]], ``previous_load_id``, ``keys``). Raises RefreshConflict when another refresh
    committed after the extract read the state (nothing is then committed)."""
    with conn.cursor() as cur:
        previous = state(cur, resource)
        if (previous.load_id if previous else None) != theme.get("previous_load_id"):
            raise RefreshConflict(
                f"{resource.code}: refresh load {previous.load_id if previous else None} committed after this run's "
                f"extract read the refresh state (load {theme.get('previous_load_id')}); its rows may be older, so "
                "nothing was loaded: run the theme again")
        loads = theme.get("input_loads") or []
        cur.execute(sqlfiles.text("queries/theme_record_refresh"), {
            "theme_code": resource.code, "load_id": load_id, "mode": mode,
            "input_load_ids": [int(i) for i, _ in loads], "input_codes": [c for _, c in loads],
            "as_of": dt.datetime.fromisoformat(theme["as_of"]), "fingerprint": theme["fingerprint"],
            "keys": theme.get("keys"),
        })
        cur.execute(sqlfiles.text("queries/theme_pending_keys"),
                    {"theme_code": resource.code, "load_id": load_id, "refresh_key": resource.refresh_key})
