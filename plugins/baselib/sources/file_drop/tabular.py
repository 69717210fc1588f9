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
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # strict: a quoted field cut off is an error
    header, rows = None, []
    try:
        for values in reader:
            line = reader.line_num
            if not "".join(values).strip():
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
    if isinstance(value, str):  # CSV cells, and most Excel cells
        return value.strip() or None
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
    return str(value).strip() or None


def _header_text(value) -> str:
    if isinstance(value, (dt.date, dt.datetime)):  # Excel turns a "2025-10" header into a date
        period = periods.parse(value)
        return period.text if period else cell_text(value) or ""
    if isinstance(value, float) and not value.is_integer():
        # Excel keeps "2025.10" as the number 2025.1: which month was meant is lost, so say so
        return f"{value!r} (an Excel number, not a period)"
    return cell_text(value) or ""


def parse(resource: Resource, sheets: list[Sheet], file_name: str) -> ParsedFile:
    """Every sheet's rows as columns of items (cells as text, periods normalised), column by
    column rather than row by row: a delivery can hold hundreds of thousands of rows."""
    source: FileDropSource = resource.pipeline.source
    mapping = header_map(resource)
    derived = _derived(source)
    columns: dict[str, list] = {}
    refs: list[str] = []
    ignored: list[str] = []
    skipped = 0
    for sheet in sheets:
        where = f"{file_name}!{sheet.name}" if sheet.name else file_name
        headers = [_header_text(h) for h in sheet.header]
        items = [map_header(mapping, h) for h in headers]
        if sheet.name is not None and len(sheets) > 1 and not any(items):
            ignored.append(f"sheet {sheet.name} (no catalog columns)")  # e.g. a 说明 (notes) sheet
            skipped += 1
            continue
        repeated = sorted({name for name in items if name and items.count(name) > 1})
        if repeated:
            raise UnreadableFile(f"{'sheet ' + repr(sheet.name) if sheet.name else 'the file'} has more than one "
                                 f"column for the items {', '.join(repeated)}: "
                                 + "; ".join(f"{n}: " + ", ".join(h for h, i in zip(headers, items) if i == n)
                                             for n in repeated))
        wide = source.wide is not None and source.wide.names_to not in items
        pattern = re.compile(source.wide.header_pattern) if wide else None
        value_columns = [i for i, h in enumerate(headers) if wide and items[i] is None and pattern.search(h)]
        present = {name for name in items if name} | (
            {source.wide.names_to, source.wide.values_to} if value_columns else set())
        require(resource, present, derived, f"{'sheet ' + repr(sheet.name) if sheet.name else 'the file'}"
                + (" (wide layout: no header matches the period pattern)" if wide and not value_columns else ""))
        ignored += [h for i, h in enumerate(headers) if items[i] is None and i not in value_columns]
        numbers = [number for number, _ in sheet.rows]
        cells = list(zip(*(row for _, row in sheet.rows))) or [()] * len(headers)
        unit = "line" if sheet.name is None else "row"
        start = len(refs)
        if not value_columns:  # long: one record per row
            picked = [(name, cells[i]) for i, name in enumerate(items) if name]
            refs += [f"{where} {unit} {n}" for n in numbers]
        else:  # wide: one record per filled (row, period column) cell
            filled = [(r, i) for r in range(len(numbers)) for i in value_columns if not _blank(cells[i][r])]
            picked = [(name, [cells[i][r] for r, _ in filled]) for i, name in enumerate(items) if name]
            picked += [(source.wide.names_to, [headers[i] for _, i in filled]),
                       (source.wide.values_to, [cells[i][r] for r, i in filled])]
            refs += [f"{where} {unit} {numbers[r]} column {headers[i]}" for r, i in filled]
        for name, values in picked:
            column = columns.setdefault(name, [None] * start)
            column.extend(values)
        for column in columns.values():
            column.extend([None] * (len(refs) - len(column)))
    if skipped == len(sheets):
        raise UnreadableFile("no sheet has a column for any catalog item")
    _normalise(source, columns)
    return ParsedFile(columns, refs, sorted(set(h for h in ignored if h)))


def _derived(source: FileDropSource) -> set[str]:
    if source.periods is None:
        return set()
    p = source.periods
    return {p.type_column, p.start_column, p.end_column}


def _normalise(source: FileDropSource, columns: dict[str, list]) -> None:
    """Cells as text; the period normalised into its type, start and end."""
    p = source.periods
    raw_periods = columns.get(p.column) if p else None
    for name, values in columns.items():
        columns[name] = [cell_text(v) for v in values]
    if p is None or raw_periods is None:
        return
    found = [periods.parse(v) for v in raw_periods]  # text periods are cached in periods.parse
    texts = columns[p.column]
    columns[p.column] = [f.text if f else t for f, t in zip(found, texts)]
    columns[p.type_column] = [f.type if f else None for f in found]
    columns[p.start_column] = [f.start.isoformat() if f else None for f in found]
    columns[p.end_column] = [f.end.isoformat() if f else None for f in found]
