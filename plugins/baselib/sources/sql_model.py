"""A theme's source: its SQL model evaluated in the warehouse, in one REPEATABLE READ snapshot.

:class:`SqlModelSource` reads, within one snapshot: the theme's refresh state, its inputs' new
committed loads (:mod:`baselib.themes.refresh`), and the model's rows — for every key (modes
``full`` and ``reconcile``) or for the affected refresh keys only (``incremental``: the model
wrapped by ``templates/theme/keyed_select``, driven from the affected keys). Reading the loads
and the rows in one snapshot means the rows reflect exactly the loads recorded as consumed.

The rows leave through ``COPY (SELECT …) TO STDOUT`` and are typed and written as Parquet parts
exactly as a department's PostgreSQL source is (:class:`PostgresTableSource`: ``arrow_schema``,
``_source_row``, ``_conversion_error``). An incremental extract also writes the affected refresh
keys, as text, to ``<dest_prefix>-scope`` (the scope within which the merge flags deleted rows).
The model's parameters are bound client-side with psycopg2's ``cursor.mogrify`` — quoted, escaped
literals, never string formatting — because COPY takes no server-side parameters (see
:mod:`baselib.themes.model`). Before the snapshot, :func:`baselib.themes.indexes.ensure` creates
any input index the refresh needs that is missing (plain ``CREATE INDEX``, in a short transaction of
its own: on a theme's first run it holds a SHARE lock on the input's history table while the index
builds — reads go on, the input's loads wait).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field

import psycopg2
import psycopg2.extensions
import pyarrow as pa
from psycopg2 import sql

from baselib import storage
from baselib.catalog.model import Resource
from baselib.errors import SourceError
from baselib.sources.extract import ExtractResult
from baselib.sources.postgres_table import PostgresTableSource
from baselib.sources.window import ExtractWindow
from baselib.themes import indexes, refresh
from baselib.themes import model as theme_model
from baselib.warehouse import connections, sqlfiles

log = logging.getLogger(__name__)
FULL_MODES = ("full", "reconcile")


@dataclass
class ModelExtractResult(ExtractResult):
    """An :class:`ExtractResult` plus what the theme's load records (``theme``): ``as_of`` (ISO),
    ``fingerprint``, ``input_loads`` ([load_id, input code] consumed), ``previous_load_id`` (the
    refresh the snapshot saw), ``keys`` (refresh keys recomputed; None: all) and ``scope_parts``
    (Parquet URIs of those keys; incremental only)."""

    theme: dict = field(default_factory=dict)


class SqlModelSource(PostgresTableSource):
    """``mode``: ``full``/``reconcile`` recompute every key, ``incremental`` the affected ones
    (the pipeline resolves ``auto``: :func:`baselib.themes.refresh.resolve_mode`)."""

    def __init__(self, resource: Resource, load_id: int, mode: str = "full"):
        super().__init__(resource)
        self.load_id = load_id
        self.mode = "full" if mode == "auto" else mode

    def extract(self, window: ExtractWindow, dest_prefix: str, chunk_rows: int) -> ModelExtractResult:
        """Evaluate the model as of ``window.upper`` (now when None) into Parquet parts under
        ``dest_prefix``. Raises SourceError when the model's query fails (an input not loaded yet,
        a model error), CatalogError when the model file is gone."""
        resource = self.resource
        as_of = window.upper or dt.datetime.now(dt.timezone.utc)
        model = theme_model.model_text(resource)
        fingerprint = theme_model.fingerprint(resource)
        indexes.ensure(resource)
        conn = connections.connect()
        try:
            conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
            with conn.cursor() as cur:
                previous = refresh.state(cur, resource)  # the snapshot starts here
                codes = refresh.input_codes(cur, resource)
                loads = refresh.new_input_loads(cur, resource, codes)
                params = theme_model.parameters(resource, as_of)
                keys = scope_parts = None
                if self.mode in FULL_MODES or previous is None:
                    select = sqlfiles.compose("templates/theme/full_select", model=sql.SQL(model),
                                              columns_m=sqlfiles.ident_list(resource.column_names, prefix="m"))
                else:
                    keys = refresh.create_affected(cur, resource, loads, codes, previous.as_of, as_of)
                    scope_parts = self._write_scope(cur, f"{dest_prefix.rstrip('/')}-scope")
                    select = self._keyed_select(model) if keys else None
                text = cur.mogrify(select, params).decode() if select is not None else None
                if text is not None:  # a model error surfaces here, named, not as an empty COPY stream
                    cur.execute("EXPLAIN " + text)
                    log.debug("%s: plan of the %s refresh:\n%s", resource.code, self.mode,
                              "\n".join(r[0] for r in cur.fetchall()))
            if text is None:  # nothing affected: an empty extract, no model evaluation
                text = self._empty_select(conn)
            result = self._stream(conn, text, resource.column_names, [], dest_prefix, chunk_rows)
        except psycopg2.Error as exc:
            raise SourceError(f"{resource.code}: evaluating the model {theme_model.model_path(resource)} failed: "
                              f"{exc}".strip()) from exc
        finally:
            with contextlib.suppress(psycopg2.Error):
                conn.rollback()
            conn.close()
        log.info("%s: %s refresh as of %s: %d input loads, %s keys, %d rows", resource.code, self.mode,
                 as_of.isoformat(), len(loads), "all" if keys is None else keys, result.rows)
        return ModelExtractResult(
            parts=result.parts, rows=result.rows, columns=result.columns, missing_columns=[], max_incremental=None,
            normalised=result.normalised,
            theme={"as_of": as_of.isoformat(), "fingerprint": fingerprint, "input_loads": [list(x) for x in loads],
                   "previous_load_id": previous.load_id if previous else None, "keys": keys,
                   "scope_parts": scope_parts})

    def _keyed_select(self, model: str) -> sql.Composed:
        resource = self.resource
        return sqlfiles.compose(
            "templates/theme/keyed_select", affected=refresh.AFFECTED, model=sql.SQL(model),
            columns_x=sqlfiles.ident_list(resource.column_names, prefix="x"),
            columns_m=sqlfiles.ident_list(resource.column_names, prefix="m"),
            key_match=sqlfiles.key_join("m", "a", resource.refresh_key))

    def _empty_select(self, conn) -> str:
        """A SELECT of the items' column names returning no row (typed by the parts, not by it)."""
        with conn.cursor() as cur:
            return sql.SQL("SELECT {} WHERE false").format(sql.SQL(", ").join(
                sql.SQL("NULL::text AS {}").format(sql.Identifier(c)) for c in self.resource.column_names)
            ).as_string(cur)

    def _write_scope(self, cur, prefix: str) -> list[str]:
        """The affected refresh keys, as text, into one Parquet part under ``prefix``."""
        keys = self.resource.refresh_key
        cur.execute(sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(k)) for k in keys), refresh.AFFECTED))
        rows = cur.fetchall()
        table = pa.table({k: pa.array([r[n] for r in rows], pa.string()) for n, k in enumerate(keys)})
        writer = storage.PartWriter(prefix)
        writer.write(table)
        return writer.parts
