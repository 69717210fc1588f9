"""Measured use of shared data: per consumer, per resource and per day, the statements a consumer
ran on its shared views and the rows they returned, into ``evaluation.sharing_usage``.

Source: ``pg_stat_statements``. The server itself counts, per role (``userid``), per database
(``dbid``) and per normalised statement, how often the statement ran (``calls``) and how many rows
it returned (``rows``). That is measured from real execution, not reported by the consumer; it is
per role, and every consumer is its own LOGIN role; it costs a few percent of a statement's
planning, nothing per row; and it is the standard extension of managed PostgreSQL services, so
the same collection works there (the server log would need log parsing, a log shipper and
``log_statement = all``, costly for busy consumers). A collection reads the counters of consumer
roles (``sharing.consumer.role_name``) in this database, subtracts those of the previous
collection (``sharing.usage_snapshot``), parses each statement with sqlglot to find the shared
views it names, and adds the differences to the day's figures.

What it cannot see:

* statements that failed (a denied read, a view refusing an expired period): only completed
  statements are counted;
* rows fetched through a named cursor: the rows belong to the ``FETCH`` statements, which name
  no view (the ``DECLARE`` that names the view is counted as a query, with the rows it returned:
  none);
* which view the rows came from when one statement names several: its ``rows`` (what it
  returned) is added to every shared view it names;
* entries evicted beyond ``pg_stat_statements.max`` between two collections, and everything
  between the previous collection and a reset of the statistics: a reset is detected through
  ``pg_stat_statements_info.stats_reset`` and reported (:attr:`Collected.reset_detected`, the
  ``sharing.usage_collection`` row); the counters after it are counted from zero;
* statements run inside functions, unless ``pg_stat_statements.track = all``;
* the time of day: the difference between two collections is attributed to one day
  (``usage_date``), so collect once a day just after the day ends: the ``sharing_reconcile``
  DAG's scheduled run at 00:00 files what it collects under the day that ended (the day before
  its logical date; :func:`baselib.orchestration.sharing_dag.usage_day`), and a backfilled run
  collects nothing;
* statement text the parser cannot read, and opaque commands that may read shared views without
  the parser seeing which (``CALL``, ``DO``, ``EXPLAIN``, …): not counted, but reported
  (:attr:`Collected.skipped`, a warning each). Prepared statements are measured: the
  ``EXECUTE``s' calls and rows are kept under the ``PREPARE name AS q`` text, and ``q`` is parsed.

Collections are single-flight (a transaction-level advisory lock: a second one waits, then
counts only what came after the first) and idempotent (nothing new, nothing added).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlglot
from psycopg2 import sql
from sqlglot import exp

from baselib.catalog.model import Resource
from baselib.errors import SharingError
from baselib.sharing import policy
from baselib.warehouse import sqlfiles

log = logging.getLogger(__name__)

EXTENSION = "pg_stat_statements"
LOCK_CLASS = 0x73686172  # "shar": first half of the advisory lock key; the second is hashtext('usage')
_DECLARE = re.compile(r"^\s*DECLARE\s.*?\sFOR\s+(.*)$", re.IGNORECASE | re.DOTALL)
# PREPARE name [(type, ...)] AS statement: pg_stat_statements keeps the EXECUTEs' calls and rows
# under this text, so the statement after AS is what was read.
_PREPARE = re.compile(r'^\s*PREPARE\s+(?:"(?:[^"]|"")*"|[^\s(]+)\s*(?:\((?:[^()]|\([^()]*\))*\))?\s*AS\s+(.*)$',
                      re.IGNORECASE | re.DOTALL)
# Commands that read no relation by themselves (transaction control, settings, cursor and
# prepared-statement housekeeping): they name nothing and are not skipped.
NAMES_NOTHING = frozenset({
    "ABORT", "BEGIN", "CLOSE", "COMMIT", "DEALLOCATE", "DISCARD", "END", "EXECUTE", "FETCH", "LISTEN", "MOVE",
    "RELEASE", "RESET", "ROLLBACK", "SAVEPOINT", "SET", "SHOW", "START", "UNLISTEN"})
_FIRST_WORD = re.compile(r"^\s*([A-Za-z]+)")


class UnparsableStatement(ValueError):
    """A statement's text sqlglot cannot parse as PostgreSQL."""


class OpaqueStatement(UnparsableStatement):
    """A statement sqlglot keeps as an opaque command (``CALL``, ``DO``, ``EXPLAIN``, …) that may
    read shared views without naming them where the parser sees: not counted, reported as skipped."""


@dataclass(frozen=True)
class Usage:
    """What one collection added for one consumer and resource on ``usage_date``: ``queries``
    (statements executed), ``rows_read`` (rows they returned)."""

    usage_date: dt.date
    consumer_code: str
    resource_code: str
    provider_code: str
    queries: int
    rows_read: int


class Collected(list):
    """The :class:`Usage` rows one collection added (a list), with what it saw:
    ``statements`` (consumer statements with new calls), ``counted`` (of those, naming a shared
    view), ``skipped`` (unparsable or opaque commands such as ``DO`` or ``CALL``, not counted), ``reset_detected`` (the statistics were reset
    since the previous collection: use in between is lost), ``stats_reset`` (the reset instant)."""

    def __init__(self, rows: Iterable[Usage] = (), *, statements: int = 0, counted: int = 0, skipped: int = 0,
                 reset_detected: bool = False, stats_reset: dt.datetime | None = None):
        super().__init__(rows)
        self.statements = statements
        self.counted = counted
        self.skipped = skipped
        self.reset_detected = reset_detected
        self.stats_reset = stats_reset


# ---------------------------------------------------------------------------------------------
# Parsing: which relations a statement names


def _name(identifier: exp.Expression | None) -> str | None:
    """An identifier as PostgreSQL resolves it: unquoted names fold to lower case."""
    if not isinstance(identifier, exp.Identifier):
        return None
    return identifier.name if identifier.quoted else identifier.name.lower()


def named_relations(statement: str) -> frozenset[tuple[str | None, str]]:
    """The relations ``statement`` (PostgreSQL, possibly normalised with ``$1`` placeholders,
    possibly several statements) reads, as ``(schema or None, name)`` with PostgreSQL's case
    folding; names of its CTEs and table functions are not relations. ``DECLARE … CURSOR FOR q``
    and ``PREPARE name [(types)] AS q`` name what ``q`` names. The commands of
    :data:`NAMES_NOTHING` (``FETCH``, ``SET``, ``EXECUTE``, …) name nothing. Raises
    :class:`OpaqueStatement` for any other command sqlglot keeps opaque (``CALL``, ``DO``,
    ``EXPLAIN``, …) and :class:`UnparsableStatement` when the text cannot be parsed."""
    for wrapper in (_DECLARE, _PREPARE):
        wrapped = wrapper.match(statement)
        if wrapped:
            statement = wrapped.group(1)
            break
    first = _FIRST_WORD.match(statement)
    if first and first.group(1).upper() in NAMES_NOTHING and ";" not in statement:
        return frozenset()
    try:
        trees = sqlglot.parse(statement, read="postgres")
    except (sqlglot.errors.SqlglotError, AttributeError, TypeError, ValueError) as exc:
        raise UnparsableStatement(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    found: set[tuple[str | None, str]] = set()
    for tree in trees:
        if tree is None:
            continue
        if isinstance(tree, exp.Command):
            keyword = str(tree.this).upper()
            if keyword in NAMES_NOTHING:
                continue
            raise OpaqueStatement(f"{keyword} is a command the parser keeps opaque: what it reads cannot be seen")
        ctes = {_name(cte.args.get("alias") and cte.args["alias"].this) for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            name = _name(table.this)
            if name is None:  # a table function (generate_series(...), unnest(...))
                continue
            schema = _name(table.args.get("db"))
            if schema is None and name in ctes:
                continue
            found.add((schema, name))
    return frozenset(found)


def view_name(resource: Resource) -> str:
    """The name of the resource's view in a consumer's schema: ``<schema>__<table>``."""
    target = resource.pipeline.target
    return f"{target.schema_name}__{target.table}"


def shared_resources(relations: Iterable[tuple[str | None, str]], *, share_schema: str,
                     views: Mapping[str, str]) -> frozenset[str]:
    """The resource codes of the shared views among ``relations`` (from :func:`named_relations`)
    for a consumer whose schema is ``share_schema``: a relation of that schema, or an unqualified
    one (the consumer's search_path is ``share_<code>, catalog``), whose name is a key of
    ``views`` (view name -> resource code, :func:`view_name`). Other schemas are not the
    consumer's shared views (the catalog is not use)."""
    return frozenset(views[name] for schema, name in relations
                     if schema in (None, share_schema) and name in views)


# ---------------------------------------------------------------------------------------------
# Availability


def _extension_schema(cur) -> str | None:
    cur.execute(sqlfiles.text("queries/sharing_usage_extension"), {"name": EXTENSION})
    row = cur.fetchone()
    return row[0] if row else None


def unavailable_reason(conn) -> str | None:
    """None when this server measures use: ``pg_stat_statements`` is available, preloaded,
    created in this database (``CREATE EXTENSION IF NOT EXISTS`` here when it is not, committed)
    and readable for every role. Otherwise the reason, saying what to do. Never raises for a
    missing extension or privilege; leaves the connection's transaction ended."""
    try:
        with conn.cursor() as cur:
            cur.execute(sqlfiles.text("queries/sharing_usage_available"), {"name": EXTENSION})
            available, preloaded, can_read_all, database, user = cur.fetchone()
            if not available:
                return ("this PostgreSQL server has no pg_stat_statements (the embedded pgserver build used by "
                        "`make demo` without WAREHOUSE_URL has none): use a server with the contrib modules, "
                        "with shared_preload_libraries = 'pg_stat_statements' (.ci/run sets it on the local server)")
            if not preloaded:
                return ("shared_preload_libraries lacks pg_stat_statements: add it in postgresql.conf "
                        "(or ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements') and restart the server")
            if _extension_schema(cur) is None:
                try:
                    cur.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(EXTENSION)))
                except Exception as exc:  # noqa: BLE001 - any refusal is a reason a person acts on
                    conn.rollback()
                    return (f"cannot create the extension pg_stat_statements in database {database} as {user} "
                            f"({str(exc).strip()}): have a superuser run CREATE EXTENSION pg_stat_statements there")
            if not can_read_all:
                conn.rollback()
                return (f"{user} cannot read other roles' statements in pg_stat_statements: "
                        f"GRANT pg_read_all_stats TO {user}")
            pss = sql.Identifier(_extension_schema(cur))
            cur.execute(sql.SQL("SELECT count(*) FROM {}.pg_stat_statements_info").format(pss))
        conn.commit()
        return None
    except Exception as exc:  # noqa: BLE001
        conn.rollback()
        return f"pg_stat_statements cannot be read: {str(exc).strip()}"


# ---------------------------------------------------------------------------------------------
# Collection


def _views(catalog: list[Resource]) -> dict[str, Resource]:
    return {view_name(r): r for r in catalog}


def collect(conn, *, now: dt.datetime | None = None, usage_date: dt.date | None = None,
            run_id: str | None = None, catalog: list[Resource] | None = None) -> Collected:
    """Add the consumers' use since the previous collection to ``evaluation.sharing_usage``.

    ``now``: the collection's instant (timezone-aware; default the server's clock);
    ``usage_date``: the day the use is attributed to (default the Asia/Shanghai date of ``now``;
    a collection just after midnight passes the day that ended, as the DAG does);
    ``catalog``: the resources whose views count (default the whole catalog). For each
    statement of a consumer role in this database whose ``calls`` grew: parsed
    (:func:`named_relations`), mapped to resources (:func:`shared_resources`), its new calls and
    rows added per (consumer, resource); statements naming no shared view add nothing; unparsable
    ones add nothing and are counted as ``skipped``. Records the collection in
    ``sharing.usage_collection`` and the counters in ``sharing.usage_snapshot``. Returns the rows
    added (a :class:`Collected`; empty when nothing new). Raises SharingError with
    :func:`unavailable_reason` when the server cannot measure use. Commits."""
    from baselib.catalog import load_catalog

    reason = unavailable_reason(conn)
    if reason is not None:
        raise SharingError(f"measured use cannot be collected: {reason}")
    views = _views(catalog if catalog is not None else load_catalog())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext('usage'))", (LOCK_CLASS,))
            if now is None:
                cur.execute("SELECT clock_timestamp()")  # after the wait
                now = cur.fetchone()[0]
            day = usage_date or policy.load().calendar.local_date(now)
            pss = sql.Identifier(_extension_schema(cur))
            cur.execute(sqlfiles.compose("queries/sharing_usage_read", pss=pss))
            cur.execute(sqlfiles.text("queries/sharing_usage_previous_reset"))
            previous = cur.fetchone()
            stats_reset = _stats_reset(cur, pss)
            reset = previous is not None and previous[0] is not None and stats_reset != previous[0]
            cur.execute(sqlfiles.text("queries/sharing_usage_deltas"), {"reset": reset})
            totals: dict[tuple[str, str], list[int]] = {}
            statements = counted = skipped = 0
            for consumer_code, share_schema, query, calls, rows in cur.fetchall():
                statements += 1
                try:
                    codes = shared_resources(named_relations(query or ""), share_schema=share_schema,
                                             views={name: r.code for name, r in views.items()})
                except UnparsableStatement as exc:
                    skipped += 1
                    log.warning("usage: statement of %s not counted, %s (%s): %.200s", consumer_code,
                                "opaque" if isinstance(exc, OpaqueStatement) else "unparsable", exc, query)
                    continue
                if codes:
                    counted += 1
                for code in codes:
                    tally = totals.setdefault((consumer_code, code), [0, 0])
                    tally[0] += calls
                    tally[1] += rows
            by_code = {r.code: r for r in views.values()}
            added = []
            for (consumer_code, code), (calls, rows) in sorted(totals.items()):
                usage = Usage(day, consumer_code, code, by_code[code].provider.code, calls, rows)
                cur.execute(sqlfiles.text("queries/sharing_usage_upsert"), {
                    "usage_date": day, "consumer_code": consumer_code, "resource_code": code,
                    "provider_code": usage.provider_code, "queries": calls, "rows_read": rows, "now": now})
                added.append(usage)
            cur.execute(sqlfiles.text("queries/sharing_usage_snapshot_replace"), {"now": now})
            cur.execute(sqlfiles.text("queries/sharing_usage_record_collection"), {
                "now": now, "usage_date": day, "stats_reset": stats_reset, "reset": reset,
                "statements": statements, "counted": counted, "skipped": skipped, "usage_rows": len(added),
                "run_id": run_id})
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    if reset:
        log.warning("usage: pg_stat_statements was reset at %s, after the previous collection: the use between "
                    "them is lost", stats_reset)
    return Collected(added, statements=statements, counted=counted, skipped=skipped, reset_detected=reset,
                     stats_reset=stats_reset)


def _stats_reset(cur, pss: sql.Identifier) -> dt.datetime | None:
    cur.execute(sql.SQL("SELECT stats_reset FROM {}.pg_stat_statements_info").format(pss))
    row = cur.fetchone()
    return row[0] if row else None
