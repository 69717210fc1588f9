"""Extract a file drop: every new delivery in the landing folder, as Parquet parts.

A file modified less than ``min_file_age_seconds`` ago may still be being written: it is left
in place, not recorded, and taken by a later run once it has settled. A file that vanishes
between listing and reading is logged and skipped. For each other file, oldest first: hash it
and look it up in ``ops.file_delivery``.
- Loaded before (same path, same bytes): a no-op, unless the run reprocesses (mode ``full``).
- Unreadable (wrong encoding, truncated, not its declared format): moved to the rejected area
  and recorded with the (bilingual) reason; the other files still load.
  So is a file whose description the manifest refuses (a value PostgreSQL cannot store);
  a NUL in a title, header or rejection reason is shown as ␀ instead.
- Otherwise: read into records, registered as ``pending`` for this load, and typed per the
  catalog. A value that is not of its item's type is kept as NULL with the problem recorded in
  ``_conversion_error``, so the row is quarantined rather than the file lost.

A key delivered by two files in one run keeps the later file's row; the earlier one is counted
as superseded on its delivery. Rows carry ``_delivery_id`` and ``_source_ref`` (file and
position) for lineage and for the quality officers' work list.
"""
from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

import psycopg2
import pyarrow as pa

from baselib.catalog.model import FileDropSource as FileDropSettings
from baselib.catalog.model import DataType, Resource
from baselib.errors import UnreadableFile
from baselib.sources.extract import (
    CONVERSION_ERROR, DELIVERY_ID, GEOMETRY_ERROR, ROW_ID, SOURCE_CRS, SOURCE_REF, ExtractResult, arrow_schema,
)
from baselib.sources.file_drop import encoding, landing, manifest
from baselib.sources.file_drop.rows import ParsedFile, shown
from baselib.sources.text import TextRules
from baselib.sources.values import converter, typed_value
from baselib.sources.window import ExtractWindow
from baselib.records.progress import Progress
from baselib.storage import PartWriter
from baselib.warehouse import connections

log = logging.getLogger(__name__)


TEXT_TYPES = (DataType.C, DataType.M, DataType.N, DataType.Y, DataType.G)
PARSED_TYPES = (DataType.D, DataType.I, DataType.B, DataType.F)


def _typed_fast(values: list, arrow_type: pa.DataType, item_type: DataType) -> pa.Array | None:
    """The whole column at once when every value already has the right form (text for text
    items, ISO text or numbers that Arrow casts exactly); None to fall back to value by value
    (which also names text Arrow cannot hold, a lone surrogate)."""
    if item_type not in TEXT_TYPES + PARSED_TYPES:
        return None
    try:
        if item_type in TEXT_TYPES:
            return pa.array(values, pa.string()) if all(v is None or isinstance(v, str) for v in values) else None
        if all(v is None or isinstance(v, str) for v in values):
            return pa.array(values, pa.string()).cast(arrow_type)
        if item_type in (DataType.B, DataType.F) and all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
            return pa.array(values, arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeEncodeError, OverflowError):
        return None
    return None


class FileDropSource:
    def __init__(self, resource: Resource, load_id: int, reprocess: bool = False):
        self.resource = resource
        self.settings: FileDropSettings = resource.pipeline.source
        self.load_id = load_id
        self.reprocess = reprocess
        self.text_rules = TextRules(resource)

    def extract(self, window: ExtractWindow, dest_prefix: str, chunk_rows: int) -> ExtractResult:
        files = {"new": 0, "unchanged": 0, "rejected": 0}
        deliveries: list[tuple[int, pa.Table]] = []
        newest = None
        for landed, data, digest, known in self._deliveries_in_order():
            if known and known.status == "loaded" and not self.reprocess:
                files["unchanged"] += 1
                log.info("%s: %s was loaded before (delivery %d): skipped", self.resource.code, landed.name,
                         known.delivery_id)
                continue
            fmt = landing.format_of(landed.name, self.settings.formats)
            try:
                if known and known.status == "rejected" and not self.reprocess:
                    zh, sep, en = (known.reason or "").partition(" / ")
                    raise UnreadableFile(f"相同内容此前已被退回（交付 {known.delivery_id}）：{zh} / the same content was "
                                         f"rejected before (delivery {known.delivery_id}): {en if sep else zh}")
                if fmt is None:
                    accepted = ", ".join(self.settings.formats)
                    extensions = ", ".join(e for f in self.settings.formats for e in landing.EXTENSIONS[f])
                    raise UnreadableFile(f"不是目录声明的格式：只接受 {accepted}（{extensions}） / "
                                         f"not a declared format: the catalog accepts {accepted} ({extensions})")
                parsed, used_encoding = self._read(fmt, data, landed.name)
                table = self._table(parsed)
                with connections.transaction() as conn:
                    delivery_id = manifest.register(
                        conn, resource_code=self.resource.code, load_id=self.load_id, path=landed.uri,
                        size_bytes=landed.size, content_sha256=digest, modified_at=landed.modified_at, format=fmt,
                        encoding=used_encoding, status="pending", ignored_columns=parsed.ignored_columns,
                        ignored_rows=parsed.ignored_rows, rows_read=parsed.rows)
            except Exception as exc:  # whatever one file does wrong, it must not stop the others
                if isinstance(exc, psycopg2.Error) and not isinstance(exc, psycopg2.DataError):
                    raise  # the warehouse, not the file: the run fails and the file is retried
                reason = shown(str(exc) if isinstance(exc, UnreadableFile) else
                               f"无法读取：{type(exc).__name__} / cannot be read: {type(exc).__name__}: {exc}")
                if known and known.status == "loaded":  # reprocessing: what it loaded stays, and so does the file
                    files["unchanged"] += 1
                    log.error("%s: reprocessing %s (delivery %d, loaded before) failed, left as loaded: %s",
                              self.resource.code, landed.name, known.delivery_id, reason)
                    continue
                files["rejected"] += 1
                self._reject(landed, digest, fmt, reason)
                continue
            if parsed.ignored_columns:
                log.warning("%s: %s has columns that map to no catalog item (not loaded): %s",
                            self.resource.code, landed.name, ", ".join(parsed.ignored_columns))
            if parsed.ignored_rows:
                log.warning("%s: %s has rows that are not records (not loaded): %s",
                            self.resource.code, landed.name, "; ".join(parsed.ignored_rows))
            files["new"] += 1
            deliveries.append((delivery_id, table.append_column(DELIVERY_ID, pa.array([delivery_id] * table.num_rows,
                                                                                       pa.int64()))))
            if landed.modified_at and (newest is None or landed.modified_at > newest):
                newest = landed.modified_at
        tables, superseded = self._supersede(deliveries)
        with connections.transaction() as conn:
            for delivery_id, _ in deliveries:
                manifest.set_superseded(conn, delivery_id, superseded.get(delivery_id, 0))
        parts, rows = self._write(tables, dest_prefix, chunk_rows)
        log.info("%s: %d new files (%d rows), %d unchanged, %d rejected", self.resource.code, files["new"], rows,
                 files["unchanged"], files["rejected"])
        return ExtractResult(parts=parts, rows=rows, columns=self.resource.column_names, missing_columns=[],
                             normalised=self.text_rules.normalised(),
                             max_incremental=newest, files=files)

    # -------------------------------------------------------------------------------------------
    def _deliveries_in_order(self):
        """(file, bytes, hash, manifest entry) for each file in the landing folder. New files come
        oldest first. When reprocessing, files seen before come first, in the order they were
        first delivered: modification times can change (a restore, a copy between buckets) and must
        not let an older file overwrite the revision that replaced it. Files still being written
        (see :func:`landing.settled`) and files gone since the listing are skipped."""
        seen = []
        now = dt.datetime.now(dt.timezone.utc)
        for landed in landing.list_files(self.settings):
            if not landing.settled(landed, self.settings.min_file_age_seconds, now):
                log.info("%s: %s was modified at %s, less than min_file_age_seconds=%d ago: it may still be being "
                         "written, left for a later run", self.resource.code, landed.name,
                         landed.modified_at.isoformat(), self.settings.min_file_age_seconds)
                continue
            data = self._read_bytes(landed)
            if data is None:
                continue
            digest = landing.sha256(data)
            with connections.transaction() as conn:
                known = manifest.lookup(conn, self.resource.code, landed.uri, digest)
            if not self.reprocess:
                yield landed, data, digest, known
                continue
            seen.append((landed, digest, known))
        order = {id(entry): n for n, entry in enumerate(seen)}
        for landed, digest, known in sorted(seen, key=lambda e: (e[2] is None, e[2].delivery_id if e[2] else 0,
                                                                 order[id(e)])):
            data = self._read_bytes(landed)
            if data is not None:
                yield landed, data, digest, known

    def _read_bytes(self, landed) -> bytes | None:
        data = landing.read_bytes(landed)
        if data is None:
            log.warning("%s: %s vanished from the landing folder after it was listed: skipped (a later run takes it "
                        "if it comes back)", self.resource.code, landed.name)
        return data

    def _read(self, fmt: str, data: bytes, name: str) -> tuple[ParsedFile, str | None]:
        if fmt == "excel":
            from baselib.sources.file_drop import tabular

            return tabular.parse(self.resource, tabular.read_excel(data), name), None
        text, used = encoding.decode(data, self.settings.encoding)
        if fmt == "csv":
            from baselib.sources.file_drop import tabular

            return tabular.parse(self.resource, tabular.read_csv(text), name), used
        from baselib.sources.file_drop import geojson

        return geojson.parse(self.resource, text, name), used

    def _reject(self, landed, digest: str, fmt: str | None, reason: str) -> None:
        """Record the rejection first, then move the file: a crash in between leaves the file in
        the landing folder, known as rejected, and the next run moves it again."""
        moved = landing.rejected_uri(self.settings, landed, self.load_id)
        with connections.transaction() as conn:
            manifest.register(conn, resource_code=self.resource.code, load_id=self.load_id, path=landed.uri,
                              size_bytes=landed.size, content_sha256=digest, modified_at=landed.modified_at,
                              format=fmt, encoding=None, status="rejected", reason=reason, rejected_path=moved)
        if landing.reject(landed, self.load_id, reason):
            log.warning("%s: rejected %s: %s (moved to %s)", self.resource.code, landed.name, reason, moved)
        else:
            log.warning("%s: rejected %s: %s (it vanished before it could be moved to %s)", self.resource.code,
                        landed.name, reason, moved)

    def _evidence_columns(self) -> list[str]:
        columns = [CONVERSION_ERROR]
        if self.settings.geometry is not None:
            columns += [SOURCE_CRS, GEOMETRY_ERROR]
        return columns

    def _table(self, parsed: ParsedFile) -> pa.Table:
        """Typed columns for the catalog items, conversion problems as evidence, and the source
        reference (the delivery id is added once the delivery is registered), after the text rules
        (:mod:`baselib.sources.text`)."""
        names = self.resource.column_names
        schema = arrow_schema(self.resource, names)
        problems: list[list[str]] = [[] for _ in range(parsed.rows)]
        columns = {}
        for field in schema:
            item = self.resource.item(field.name)
            values = parsed.column(field.name)  # readers give blanks as None
            columns[field.name] = _typed_fast(values, field.type, item.type) or self._typed(values, field, item, problems)
        columns[CONVERSION_ERROR] = pa.array(["; ".join(p) or None for p in problems], pa.string())
        for name in self._evidence_columns()[1:]:
            columns[name] = pa.array(parsed.column(name), pa.string())
        columns[SOURCE_REF] = pa.array(parsed.refs, pa.string())
        return self.text_rules.apply(pa.table(columns))

    def _typed(self, values: list, field: pa.Field, item, problems: list[list[str]]) -> pa.Array:
        """Value by value (:func:`baselib.sources.values.typed_value`): a value that is not of the
        item's type becomes NULL, and the problem is recorded for its row. A date-time without an offset is in the provider's time zone."""
        convert = converter(item.type, zoneinfo.ZoneInfo(self.resource.provider.timezone))
        out = []
        for n, value in enumerate(values):
            if value is not None:
                value, trouble = typed_value(item, convert, value)
                if trouble:
                    problems[n].append(trouble)
            out.append(value)
        return pa.array(out, type=field.type)

    def _supersede(self, deliveries: list[tuple[int, pa.Table]]) -> tuple[list[pa.Table], dict[int, int]]:
        """Drop rows whose key a later delivery of this run delivers again."""
        if len(deliveries) < 2:
            return [t for _, t in deliveries], {}
        keys = self.resource.pipeline.key_columns
        later: set[tuple] = set()
        kept, superseded = [], {}
        for delivery_id, table in reversed(deliveries):
            key_rows = list(zip(*(table.column(k).to_pylist() for k in keys)))
            mask = [None in k or k not in later for k in key_rows]  # a blank key is quarantined, never superseded
            dropped = mask.count(False)
            if dropped:
                superseded[delivery_id] = dropped
                log.info("%s: %d rows of delivery %d are superseded by a later file in this run",
                         self.resource.code, dropped, delivery_id)
                table = table.filter(pa.array(mask))
            later.update(k for k in key_rows if None not in k)
            kept.append(table)
        return list(reversed(kept)), superseded

    def _write(self, tables: list[pa.Table], dest_prefix: str, chunk_rows: int) -> tuple[list[str], int]:
        writer = PartWriter(dest_prefix, progress=Progress(log, f"{self.resource.code}: extract"))
        empty = self._empty_table()
        combined = pa.concat_tables([empty, *tables]) if tables else empty
        combined = combined.append_column(ROW_ID, pa.array(range(combined.num_rows), pa.int64()))
        if combined.num_rows == 0:
            writer.write(combined)
        for offset in range(0, combined.num_rows, chunk_rows):
            writer.write(combined.slice(offset, chunk_rows))
        return writer.parts, combined.num_rows

    def _empty_table(self) -> pa.Table:
        schema = arrow_schema(self.resource, self.resource.column_names)
        for name in self._evidence_columns():
            schema = schema.append(pa.field(name, pa.string()))
        schema = schema.append(pa.field(SOURCE_REF, pa.string())).append(pa.field(DELIVERY_ID, pa.int64()))
        return schema.empty_table()
