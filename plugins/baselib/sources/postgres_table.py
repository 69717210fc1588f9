"""Extract from a department's PostgreSQL front-end database, streamed in chunks.

The rows leave the server through ``COPY (SELECT …) TO STDOUT`` into a pipe that pyarrow's
streaming CSV reader consumes batch by batch, so memory stays flat however large the source.
Only the catalog's items are selected: columns the catalog does not list never leave the source.
"""
from __future__ import annotations

import logging
import os
import threading

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg2 import sql

from baselib.catalog.model import Resource
from baselib.errors import SourceError
from baselib.sources.extract import ROW_ID, ExtractResult, arrow_schema
from baselib.sources.window import ExtractWindow
from baselib.storage import PartWriter
from baselib.warehouse import connections

log = logging.getLogger(__name__)

class PostgresTableSource:
    def __init__(self, resource: Resource):
        self.resource = resource
        self.settings = resource.pipeline.source

    def _relation(self) -> sql.Composable:
        if self.settings.table:
            return sql.Identifier(*self.settings.table.split("."))
        return sql.SQL("({}) AS src").format(sql.SQL(self.settings.query))

    def _source_columns(self, cur) -> list[str]:
        cur.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(self._relation()))
        return [d.name for d in cur.description]

    def _select(self, cur, columns: list[str], window: ExtractWindow) -> str:
        inc = self.settings.incremental_column
        conditions, params = [], []
        if inc and window.lower is not None:
            conditions.append(sql.SQL("{} > %s").format(sql.Identifier(inc)))
            params.append(window.lower)
        if inc and window.upper is not None:
            conditions.append(sql.SQL("{} <= %s").format(sql.Identifier(inc)))
            params.append(window.upper)
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
        query = sql.SQL("SELECT {} FROM {}{}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns), self._relation(), where
        )
        # mogrify binds the values client-side with proper quoting; COPY cannot take parameters.
        return cur.mogrify(query, params).decode()

    def extract(self, window: ExtractWindow, dest_prefix: str, chunk_rows: int) -> ExtractResult:
        try:
            conn = connections.connect(self.settings.conn_id)
        except (psycopg2.OperationalError, LookupError) as exc:
            raise SourceError(f"{self.resource.code}: cannot connect to {self.settings.conn_id}: {exc}") from exc
        try:
            conn.set_session(readonly=True)
            with conn.cursor() as cur:
                available = self._source_columns(cur)
                columns = [c for c in self.resource.column_names if c in available]
                missing = [c for c in self.resource.column_names if c not in available]
                select = self._select(cur, columns, window)
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
        writer = PartWriter(dest_prefix)
        rows, pending, pending_rows = 0, [], 0
        max_inc = None
        inc = self.settings.incremental_column
        with os.fdopen(read_fd, "rb") as source:
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(block_size=8 << 20),
                convert_options=pacsv.ConvertOptions(
                    column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False,
                    include_columns=columns,
                ),
            )
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                batch = batch.append_column(ROW_ID, pa.array(range(rows, rows + batch.num_rows), pa.int64()))
                rows += batch.num_rows
                if inc in columns:
                    batch_max = pc.max(batch.column(inc)).as_py()
                    if batch_max is not None and (max_inc is None or batch_max > max_inc):
                        max_inc = batch_max
                pending.append(batch)
                pending_rows += batch.num_rows
                if pending_rows >= chunk_rows:
                    writer.write(pa.Table.from_batches(pending))
                    pending, pending_rows = [], 0
            if pending:
                writer.write(pa.Table.from_batches(pending))
        producer.join()
        if failure:
            raise failure[0]
        if not writer.parts:  # an empty extract still yields one (empty) part with the right columns
            writer.write(schema.append(pa.field(ROW_ID, pa.int64())).empty_table())
        return ExtractResult(parts=writer.parts, rows=rows, columns=columns, missing_columns=missing,
                             max_incremental=max_inc)
