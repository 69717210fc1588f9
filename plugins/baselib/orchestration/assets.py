"""The Assets that connect DAGs: each load emits its table's Asset; a theme DAG is scheduled on its
inputs' Assets, derived from ``pipeline.source.inputs`` (never listed by hand).

Triggering rule for a theme (see the README, "Themes: how triggering works"):

* ``schedule = AssetAny(<every input's table Asset>)``: any input's successful load queues a theme
  refresh, so a daily input is not held back by a monthly or yearly one (``AssetAll`` would wait
  for the yearly tax file before refreshing on a new day of penalties);
* the guard (:func:`unloaded_inputs`, called first in the theme's extract task) skips the run —
  skipped, not failed — while any input has never loaded (no committed load, the engine's own
  test), so the first input to arrive does not build a theme from empty tables; an input whose
  catalog entry is broken fails the run instead (it would never load);
* ``max_active_runs=1``: while a refresh is queued or running, the scheduler keeps further input
  events queued (one ``asset_dag_run_queue`` row per input Asset) and, when the run ends, starts ONE
  run that consumes all of them: a burst of input loads coalesces into few refreshes.

Module level imports only the Task SDK (DAG parsing stays light); :func:`unloaded_inputs` imports
the engine when a task calls it.
"""
from __future__ import annotations

from airflow.sdk import Asset, AssetAny

from baselib.catalog.model import Resource

# The warehouse as Asset URIs and OpenLineage namespace know it: postgres://<host>:<port>/<database>/<schema>/<table>
# with a logical host, so the names do not change with the server a deployment uses.
WAREHOUSE_HOST = "warehouse:5432"
WAREHOUSE_DATABASE = "warehouse"
WAREHOUSE_ASSET_PREFIX = f"postgres://{WAREHOUSE_HOST}/{WAREHOUSE_DATABASE}"


def table_asset_for(qualified: str) -> Asset:
    """The Asset of the warehouse table ``schema.table``: name ``schema.table``, URI
    ``postgres://warehouse:5432/warehouse/<schema>/<table>``."""
    schema_name, table = qualified.split(".", 1)
    return Asset(name=qualified, uri=f"{WAREHOUSE_ASSET_PREFIX}/{schema_name}/{table}")


def table_asset(resource: Resource) -> Asset:
    """The Asset a resource's load task emits (its target table)."""
    return table_asset_for(resource.pipeline.target.qualified)


def input_assets(theme: Resource) -> list[Asset]:
    """The Assets of a theme's inputs, in ``source.inputs`` order: the same objects (name and URI)
    the inputs' load tasks emit, because an input's ``table`` is its resource's target."""
    return [table_asset_for(i.table) for i in theme.pipeline.source.inputs]


def theme_schedule(theme: Resource) -> AssetAny:
    """A theme DAG's schedule: any of its inputs' Assets updated (see the module docstring)."""
    return AssetAny(*input_assets(theme))


def _targets(catalog: list[Resource] | None) -> tuple[dict[str, Resource], list[str]]:
    """``({schema.table: resource}, [broken entries' messages])`` of ``catalog`` (default: the
    catalog directory's, scanned leniently; then its broken entries are listed too)."""
    from baselib.catalog import scan_catalog

    if catalog is not None:
        return {r.pipeline.target.qualified: r for r in catalog}, []
    scanned = scan_catalog()
    return {r.pipeline.target.qualified: r for r in scanned.resources}, [e.message for e in scanned.errors]


def unloaded_inputs(theme: Resource, catalog: list[Resource] | None = None) -> list[str]:
    """The inputs (``schema.table (code)``) of ``theme`` without a committed load in
    ``ops.load_run`` of the warehouse; ``[]`` when every input has loaded at least once. Committed
    is the theme engine's own predicate (``queries/theme_loaded_input_codes``, the same as
    ``queries/theme_new_input_loads``): status ``loaded`` or ``success``, or ``rows_inserted`` set
    — the input's Asset event fires when its load task commits (``loaded``), before its record
    task sets ``success``. ``catalog``: the resources to resolve the input tables with (default:
    the catalog directory's, scanned leniently).

    Raises :class:`baselib.errors.CatalogError` naming the input (and the broken entries of the
    catalog directory, when it was scanned) when an input table is no loadable catalog resource:
    such an input never loads, so waiting for it would skip the theme forever. Raises the
    driver's error when the warehouse cannot be reached."""
    from baselib.errors import CatalogError

    by_target, broken = _targets(catalog)
    wanted = {i.table: by_target.get(i.table) for i in theme.pipeline.source.inputs}
    if missing := [table for table, r in wanted.items() if r is None]:
        raise CatalogError(
            f"{theme.pipeline.target.qualified} ({theme.code}): input {', '.join(missing)} is no loadable "
            f"catalog resource, so it never loads; fix its catalog entry"
            + (f" (broken entries: {'; '.join(broken)})" if broken else ""))
    loaded = _loaded_codes(sorted({r.code for r in wanted.values()}))
    return [f"{table} ({r.code})" for table, r in wanted.items() if r.code not in loaded]


def _loaded_codes(codes: list[str]) -> set[str]:
    """The resource ``codes`` with a committed load in the warehouse's ``ops.load_run``
    (``queries/theme_loaded_input_codes``; none on a warehouse nothing has loaded into yet)."""
    import psycopg2.errors

    from baselib.warehouse import connections, sqlfiles

    conn = connections.connect()
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(sqlfiles.text("queries/theme_loaded_input_codes"), {"input_codes": codes})
                return {row[0] for row in cur.fetchall()}
            except psycopg2.errors.UndefinedTable:
                return set()
    finally:
        conn.rollback()
        conn.close()


def missing_references(resource: Resource, catalog: list[Resource] | None = None) -> list[str]:
    """The reference tables (``schema.table (code)``) of ``resource``'s critical ``reference_match``
    and ``point_in_polygon`` checks whose catalog resource has no committed load yet (the same
    predicate as a theme's inputs, :func:`unloaded_inputs`), in catalog order; ``[]`` when all have
    loaded or the entry has no such check. Validation would block the load ("load it before this resource") or, while the
    reference's first load is still running, find its table empty and quarantine every row; the
    extract task waits for the references instead. ``catalog``: default the catalog directory's,
    scanned leniently.

    Raises :class:`baselib.errors.CatalogError` naming the reference (and the catalog directory's
    broken entries, when it was scanned) when a reference table is no loadable catalog resource —
    its entry is broken or missing, so it would never load and the wait would never end. Raises the
    driver's error when the warehouse cannot be reached."""
    from baselib.errors import CatalogError

    wanted: list[str] = []
    for check in resource.pipeline.context_checks:
        if check.kind in ("reference_match", "point_in_polygon") and check.severity == "critical" \
                and check.reference not in wanted:
            wanted.append(check.reference)
    if not wanted:
        return []
    by_target, broken = _targets(catalog)
    if unknown := [table for table in wanted if table not in by_target]:
        raise CatalogError(
            f"{resource.pipeline.target.qualified} ({resource.code}): critical reference {', '.join(unknown)} is no "
            f"loadable catalog resource, so it never loads; fix its catalog entry"
            + (f" (broken entries: {'; '.join(broken)})" if broken else ""))
    references = [(table, by_target[table]) for table in wanted]
    loaded = _loaded_codes(sorted({r.code for _, r in references}))
    return [f"{table} ({r.code})" for table, r in references if r.code not in loaded]
