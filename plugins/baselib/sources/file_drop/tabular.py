"""CSV and Excel deliveries: sheets of cells -> catalog items, long or wide.

A sheet's first non-empty row is its header. Headers map to items by name, label or alias.
Long sheets have one row per record. Wide sheets (the catalog's ``wide`` layout, used when the
``names_to`` item has no column) have one column per period: every header matching
``header_pattern`` is unpivoted into ``names_to`` (the header) and ``values_to`` (the cell);
empty cells are values not delivered, not rows. Other unmapped headers are ignored and reported.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass
from decimal import Decimal

from baselib.catalog.model import FileDropSource, Resource
from baselib.errors import UnreadableFile
from baselib.sources.file_drop import periods
from baselib.sources.file_drop.rows import ParsedFile, header_map, map_header, require


@dataclass
class Sheet:
    name: str | None          # worksheet name (Excel), None for CSV
    header: list              # header cells
    rows: list[tuple[int, list]]  # (1-based line or row number, cells)


def read_csv(text: str) -> list[Sheet]:
    """One sheet. A row whose field count differs from the header's rejects the file (truncated
    or malformed); empty lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header, rows = None, []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if header is None:
                header = values
                continue
            if len(values) != len(header):
                raise UnreadableFile(f"line {line} has {len(values)} fields but the header has {len(header)} "
                                     f"(the file is truncated or malformed)")
            rows.append((line, values))
    except csv.Error as exc:
        raise UnreadableFile(f"not valid CSV at line {reader.line_num}: {exc}") from exc
    if header is None:
        raise UnreadableFile("the CSV file is empty (no header row)")
    return [Sheet(None, header, rows)]


def read_excel(data: bytes) -> list[Sheet]:
    """Every non-empty worksheet of an .xlsx workbook (values, not formulas)."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, EOFError) as exc:
        raise UnreadableFile(f"not a readable Excel workbook (.xlsx): {type(exc).__name__}: {exc} "
                             f"(truncated, or not the format its name says)") from exc
    sheets = []
    try:
        for ws in workbook.worksheets:
            header, rows = None, []
            for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                values = list(values)
                while values and _blank(values[-1]):
                    values.pop()
                if not values:
                    continue
                if header is None:
                    header = values
                    continue
                values += [None] * (len(header) - len(values))
                if len(values) > len(header):
                    raise UnreadableFile(f"sheet {ws.title!r} row {number} has cells beyond the header's "
                                         f"{len(header)} columns")
                rows.append((number, values))
            if header is not None:
                sheets.append(Sheet(ws.title, header, rows))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as exc:
        raise UnreadableFile(f"the Excel workbook is damaged: {type(exc).__name__}: {exc}") from exc
    finally:
        workbook.close()
    if not sheets:
        raise UnreadableFile("the workbook has no sheet with a header row")
    return sheets


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def cell_text(value) -> str | None:
    """A cell as text: numbers without float artefacts, dates in ISO form, blanks as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _header_text(value) -> str:
    if isinstance(value, (dt.date, dt.datetime)):  # Excel turns a "2025-10" header into a date
        period = periods.parse(value)
        return period.text if period else cell_text(value) or ""
    return cell_text(value) or ""


def parse(resource: Resource, sheets: list[Sheet], file_name: str) -> ParsedFile:
    source: FileDropSource = resource.pipeline.source
    mapping = header_map(resource)
    parsed = ParsedFile()
    ignored: list[str] = []
    derived = _derived(source)
    for sheet in sheets:
        where = f"{file_name}!{sheet.name}" if sheet.name else file_name
        headers = [_header_text(h) for h in sheet.header]
        items = [map_header(mapping, h) for h in headers]
        wide = source.wide is not None and source.wide.names_to not in items
        pattern = re.compile(source.wide.header_pattern) if wide else None
        value_columns = [i for i, h in enumerate(headers) if wide and items[i] is None and pattern.search(h)]
        present = {name for name in items if name} | (
            {source.wide.names_to, source.wide.values_to} if value_columns else set())
        require(resource, present, derived, f"{'sheet ' + repr(sheet.name) if sheet.name else 'the file'}"
                + (" (wide layout: no header matches the period pattern)" if wide and not value_columns else ""))
        ignored += [h for i, h in enumerate(headers) if items[i] is None and i not in value_columns]
        item_cells = [(i, name) for i, name in enumerate(items) if name]
        unit = "line" if sheet.name is None else "row"
        for number, cells in sheet.rows:
            record = {name: cells[i] for i, name in item_cells}
            if not value_columns:
                parsed.append(_finish(source, record), f"{where} {unit} {number}")
                continue
            for i in value_columns:
                if _blank(cells[i]):
                    continue
                cell_record = dict(record)
                cell_record[source.wide.names_to] = headers[i]
                cell_record[source.wide.values_to] = cells[i]
                parsed.append(_finish(source, cell_record), f"{where} {unit} {number} column {headers[i]}")
    parsed.ignored_columns = sorted(set(h for h in ignored if h))
    return parsed


def _derived(source: FileDropSource) -> set[str]:
    if source.periods is None:
        return set()
    p = source.periods
    return {p.type_column, p.start_column, p.end_column}


def _finish(source: FileDropSource, record: dict) -> dict:
    """Cells as text; the period normalised into its type, start and end."""
    p = source.periods
    raw_period = record.get(p.column) if p else None
    out = {name: cell_text(value) for name, value in record.items()}
    if p is not None:
        period = periods.parse(raw_period)
        if period is not None:
            out.update({p.column: period.text, p.type_column: period.type,
                        p.start_column: period.start.isoformat(), p.end_column: period.end.isoformat()})
    return out
