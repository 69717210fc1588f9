"""Extract from a department's PostgreSQL front-end database, streamed in chunks.

The rows leave the server through ``COPY (SELECT …) TO STDOUT`` into a pipe that pyarrow's
streaming CSV reader consumes batch by batch, so memory stays flat however large the source.
Only the catalog's items are selected: columns the catalog does not list never leave the source.

Text arrives exactly: PostgreSQL's CSV writes a NULL as an empty unquoted field and quotes an
empty text, so only an unquoted empty field is read as NULL (never the texts ``NULL``, ``NA``,
``N/A`` …), and quoted fields may hold newlines. The text rules of :mod:`baselib.sources.text`
then apply.

A ``timestamp without time zone`` (or ``date``) column is read in the provider's time zone
(``provider.timezone``): a T item is selected as ``column AT TIME ZONE zone``, and the window's
bounds are compared as the provider's wall times (a ``date`` incremental column: from the local
date of the lower bound, before the upper bound), so the column's index still serves the filter.

Every item arrives as text and is typed batch by batch with a vectorised Arrow cast. Only a batch
whose cast fails (``infinity`` in a date column, ``2024-02-30`` in a varchar behind a D item, a
varchar time without an offset behind a T item …) is typed value by value with
:func:`baselib.sources.values.typed_value`: a value that is not of its item's type keeps its row
with the value NULL and the problem in ``_conversion_error``, so that row is quarantined and the
rest load.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import zoneinfo

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg2 import sql

from baselib.catalog.model import DataType, Resource
from baselib.errors import SourceError
from baselib.sources.extract import CONVERSION_ERROR, ROW_ID, ExtractResult, arrow_schema
from baselib.sources.text import TextRules
from baselib.sources.values import converter, typed_value
from baselib.sources.window import ExtractWindow
from baselib.records.progress import Progress
from baselib.storage import PartWriter
from baselib.warehouse import connections

log = logging.getLogger(__name__)

# PostgreSQL type OIDs of the date and time columns that need the provider's time zone
DATE_OID, TIMESTAMP_OID, TIMESTAMPTZ_OID = 1082, 1114, 1184
PG_BOOLEAN_TEXT = pa.array(["t", "f"])  # how PostgreSQL's CSV writes a boolean


def _cast(column: pa.Array, arrow_type: pa.DataType) -> pa.Array:
    """``column`` (text as PostgreSQL writes it) as ``arrow_type``, vectorised. Raises
    ``pa.ArrowInvalid`` when any value does not cast."""
    if arrow_type == pa.string():
        return column
    if arrow_type == pa.bool_():
        if pc.any(pc.invert(pc.is_in(column, PG_BOOLEAN_TEXT, skip_nulls=True))).as_py():
            raise pa.ArrowInvalid("not a PostgreSQL boolean text")
        return pc.equal(column, "t")
    return pc.cast(column, arrow_type)


class PostgresTableSource:
    def __init__(self, resource: Resource):
        self.resource = resource
        self.settings = resource.pipeline.source
        self.zone = zoneinfo.ZoneInfo(resource.provider.timezone)

    def _relation(self) -> sql.Composable:
        if self.settings.table:
            return sql.Identifier(*self.settings.table.split("."))
        return sql.SQL("({}) AS src").format(sql.SQL(self.settings.query))

    def _source_columns(self, cur) -> dict[str, int]:
        """Column name -> type OID of the source relation."""
        cur.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(self._relation()))
        return {d.name: d.type_code for d in cur.description}

    def _expression(self, column: str, type_oid: int) -> sql.Composable:
        """How ``column`` is selected: as it is, or as the item's type in the provider's zone."""
        name, zone = sql.Identifier(column), sql.Literal(self.resource.provider.timezone)
        item_type = self.resource.item(column).type
        if item_type is DataType.T and type_oid in (TIMESTAMP_OID, DATE_OID):
            return sql.SQL("({}::timestamp AT TIME ZONE {}) AS {}").format(name, zone, name)
        if item_type is DataType.D and type_oid == TIMESTAMPTZ_OID:
            return sql.SQL("({} AT TIME ZONE {})::date AS {}").format(name, zone, name)
        if item_type is DataType.D and type_oid == TIMESTAMP_OID:
            return sql.SQL("{}::date AS {}").format(name, name)
        return name

    def _typed(self, batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
        """``batch`` (all text) typed per ``schema``, plus ``_conversion_error``: a column whose
        cast fails is typed value by value, its bad values NULL and named as the row's evidence."""
        arrays, problems = [], None
        for column, field in zip(batch.columns, schema):
            try:
                arrays.append(_cast(column, field.type))
                continue
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
            problems = problems or [[] for _ in range(batch.num_rows)]
            item = self.resource.item(field.name)
            convert, typed = converter(item.type, self.zone), []
            for n, value in enumerate(column.to_pylist()):
                if value is not None:
                    value, trouble = typed_value(item, convert, value)
                    if trouble:
                        problems[n].append(trouble)
                typed.append(value)
            arrays.append(pa.array(typed, field.type))
        evidence = (pa.array(["; ".join(p) or None for p in problems], pa.string()) if problems
                    else pa.nulls(batch.num_rows, pa.string()))
        return pa.RecordBatch.from_arrays([*arrays, evidence],
                                          schema=schema.append(pa.field(CONVERSION_ERROR, pa.string())))

    def _wall_time(self, ts: dt.datetime) -> dt.datetime:
        """``ts`` as the provider's local wall time (naive)."""
        return ts.astimezone(self.zone).replace(tzinfo=None)

    def _conditions(self, window: ExtractWindow, type_oid: int) -> tuple[list[sql.Composable], list]:
        """``lower < column <= upper``, with the bounds as the provider's wall times (naive
        timestamp) or local dates (date) when the column has no time zone."""
        inc = sql.Identifier(self.settings.incremental_column)
        conditions, params = [], []
        if window.lower is not None:
            if type_oid == DATE_OID:  # every day the window touches: re-reading a day changes nothing
                conditions.append(sql.SQL("{} >= %s").format(inc))
                params.append(self._wall_time(window.lower).date())
            else:
                conditions.append(sql.SQL("{} > %s").format(inc))
                params.append(self._wall_time(window.lower) if type_oid == TIMESTAMP_OID else window.lower)
        if window.upper is not None:
            conditions.append(sql.SQL("{} < %s" if type_oid == DATE_OID else "{} <= %s").format(inc))
            params.append(self._wall_time(window.upper) if type_oid in (DATE_OID, TIMESTAMP_OID) else window.upper)
        return conditions, params

    def _select(self, cur, types: dict[str, int], columns: list[str], window: ExtractWindow) -> str:
        inc = self.settings.incremental_column
        if inc and inc not in types:
            raise SourceError(f"{self.resource.code}: the source has no incremental column {inc!r}")
        conditions, params = self._conditions(window, types[inc]) if inc else ([], [])
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
        query = sql.SQL("SELECT {} FROM {}{}").format(
            sql.SQL(", ").join(self._expression(c, types[c]) for c in columns), self._relation(), where
        )
        # mogrify binds the values client-side with proper quoting; COPY cannot take parameters.
        return cur.mogrify(query, params).decode()

    def extract(self, window: ExtractWindow, dest_prefix: str, chunk_rows: int) -> ExtractResult:
        try:
            conn = connections.connect(self.settings.conn_id)
        except (psycopg2.Error, LookupError) as exc:  # refused, or an invalid DSN
            raise SourceError(f"{self.resource.code}: cannot connect to {self.settings.conn_id}: {exc}") from exc
        try:
            conn.set_session(readonly=True)
            with conn.cursor() as cur:
                types = self._source_columns(cur)
                columns = [c for c in self.resource.column_names if c in types]
                missing = [c for c in self.resource.column_names if c not in types]
                select = self._select(cur, types, columns, window)
            return self._stream(conn, select, columns, missing, dest_prefix, chunk_rows)
        except psycopg2.Error as exc:
            raise SourceError(f"{self.resource.code}: reading {self.settings.conn_id} failed: {exc}".strip()) from exc
        finally:
            conn.close()

    def _stream(self, conn, select: str, columns, missing, dest_prefix: str, chunk_rows: int) -> ExtractResult:
        schema = arrow_schema(self.resource, columns)
        read_fd, write_fd = os.pipe()
        failure: list[BaseException] = []

        def produce() -> None:
            with os.fdopen(write_fd, "wb", buffering=1 << 20) as sink:
                try:
                    with conn.cursor() as cur:
                        cur.copy_expert(f"COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER true)", sink)
                except BaseException as exc:  # re-raised in the consumer thread
                    failure.append(exc)

        producer = threading.Thread(target=produce, name="copy-out", daemon=True)
        producer.start()
        writer = PartWriter(dest_prefix, progress=Progress(log, f"{self.resource.code}: extract"))
        rules = TextRules(self.resource)
        rows, pending, pending_rows = 0, [], 0
        max_inc = None
        inc = self.settings.incremental_column
        with os.fdopen(read_fd, "rb") as source:
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(block_size=8 << 20),
                # a one-column row holding NULL is an empty line; quoted fields may span lines
                parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in columns}, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False,
                    true_values=["t"], false_values=["f"], include_columns=columns,
                ),
            )
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                batch = self._typed(batch, schema)
                batch = batch.append_column(ROW_ID, pa.array(range(rows, rows + batch.num_rows), pa.int64()))
                rows += batch.num_rows
                if inc in columns:
                    batch_max = pc.max(batch.column(inc)).as_py()
                    if batch_max is not None and (max_inc is None or batch_max > max_inc):
                        max_inc = batch_max
                pending.append(batch)
                pending_rows += batch.num_rows
                if pending_rows >= chunk_rows:
                    writer.write(rules.apply(pa.Table.from_batches(pending)))
                    pending, pending_rows = [], 0
            if pending:
                writer.write(rules.apply(pa.Table.from_batches(pending)))
        producer.join()
        if failure:
            raise failure[0]
        if not writer.parts:  # an empty extract still yields one (empty) part with the right columns
            writer.write(rules.apply(schema.append(pa.field(CONVERSION_ERROR, pa.string()))
                                     .append(pa.field(ROW_ID, pa.int64())).empty_table()))
        if isinstance(max_inc, dt.date) and not isinstance(max_inc, dt.datetime):  # a D item: its local day's start
            max_inc = dt.datetime.combine(max_inc, dt.time(), tzinfo=self.zone)
        return ExtractResult(parts=writer.parts, rows=rows, columns=columns, missing_columns=missing,
                             max_incremental=max_inc, normalised=rules.normalised())
