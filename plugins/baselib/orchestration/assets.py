"""The Assets that connect DAGs: each load emits its table's Asset; a theme DAG is scheduled on its
inputs' Assets, derived from ``pipeline.source.inputs`` (never listed by hand).

Triggering rule for a theme (see the README, "Themes: how triggering works"):

* ``schedule = AssetAny(<every input's table Asset>)``: any input's successful load queues a theme
  refresh, so a daily input is not held back by a monthly or yearly one (``AssetAll`` would wait
  for the yearly tax file before refreshing on a new day of penalties);
* the guard (:func:`unloaded_inputs`, called first in the theme's extract task) skips the run —
  skipped, not failed — while any input has never loaded successfully, so the first input to
  arrive does not build a theme from empty tables;
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


def unloaded_inputs(theme: Resource, catalog: list[Resource] | None = None) -> list[str]:
    """The inputs (``schema.table (code)``) of ``theme`` without a successful load in
    ``ops.load_run`` of the warehouse; ``[]`` when every input has loaded at least once. An input
    that is no catalog resource counts as not loaded. ``catalog``: the resources to resolve the
    input tables with (default: the catalog directory's). Raises the driver's error when the
    warehouse cannot be reached."""
    import psycopg2.errors

    from baselib.catalog import scan_catalog
    from baselib.warehouse import connections

    resources = catalog if catalog is not None else scan_catalog().resources
    by_target = {r.pipeline.target.qualified: r for r in resources}
    wanted = {i.table: by_target.get(i.table) for i in theme.pipeline.source.inputs}
    codes = [r.code for r in wanted.values() if r is not None]
    conn = connections.connect()
    try:
        with conn.cursor() as cur:
            try:
                cur.execute("SELECT DISTINCT resource_code FROM ops.load_run "
                            "WHERE status = 'success' AND resource_code = ANY(%s)", (codes,))
                loaded = {row[0] for row in cur.fetchall()}
            except psycopg2.errors.UndefinedTable:  # a warehouse nothing has loaded into yet
                loaded = set()
    finally:
        conn.rollback()
        conn.close()
    return [f"{table} ({r.code if r else 'not a catalog resource'})" for table, r in wanted.items()
            if r is None or r.code not in loaded]
