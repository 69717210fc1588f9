"""CSV and Excel deliveries: sheets of cells -> catalog items, long or wide.

The header is the row, among a sheet's first :data:`HEADER_SEARCH_ROWS` non-empty rows, whose
cells match the most catalog items (by name, label or alias). Rows above it (a title) and a
block of footnotes at the end (a single cell starting 注, 说明, 资料来源, …) are not records:
they are reported in ``ignored_rows``. A second header row of period parts under merged year
cells (``2024年`` over ``一季度 | 二季度``) is combined into ``2024Q1``, ``2024Q2``; a second row
that does not combine rejects the file naming both rows, so a quarter is never taken for its year.

Long sheets have one row per record. Wide sheets (the catalog's ``wide`` layout, used when the
``names_to`` item has no column) have one column per period: every header matching
``header_pattern`` is unpivoted into ``names_to`` (the header) and ``values_to`` (the cell);
empty cells are values not delivered, not rows. Other unmapped headers, and filled columns
without a header, are ignored and reported in ``ignored_columns``.

Every reason for an unreadable file is bilingual, "中文 / English".
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

HEADER_SEARCH_ROWS = 20
# a footnote: one text cell such as "注：…", "说明：…", "资料来源：…", "Source: …"
FOOTNOTE = re.compile(r"^\s*(注|说明|备注|附注|资料来源|数据来源|来源|(?i:notes?|sources?)\s*[:：])")


@dataclass
class Sheet:
    name: str | None              # worksheet name (Excel), None for CSV
    rows: list[tuple[int, list]]  # every non-empty row: (1-based line or row number, cells)

    @property
    def unit(self) -> tuple[str, str]:
        """How a position is named: (中文, English)."""
        return ("行", "row") if self.name is not None else ("行", "line")


def read_csv(text: str) -> list[Sheet]:
    """One sheet of every non-empty line. Raises :class:`UnreadableFile` for a quoted field cut
    off or an empty file; the field count is checked against the header by :func:`parse`."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # strict: a quoted field cut off is an error
    rows = []
    try:
        for values in reader:
            if "".join(values).strip():
                rows.append((reader.line_num, values))
    except csv.Error as exc:
        raise UnreadableFile(f"第 {reader.line_num} 行不是有效的 CSV（{exc}） / "
                             f"not valid CSV at line {reader.line_num}: {exc}") from exc
    if not rows:
        raise UnreadableFile("CSV 文件为空（没有表头行） / the CSV file is empty (no header row)")
    return [Sheet(None, rows)]


def read_excel(data: bytes) -> list[Sheet]:
    """Every non-empty worksheet of an .xlsx workbook (values, not formulas), trailing blank
    cells of each row dropped."""
    import openpyxl
    from openpyxl.utils.escape import unescape
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, EOFError) as exc:
        raise UnreadableFile(f"不是可读的 Excel 工作簿(.xlsx)：{type(exc).__name__}（文件被截断，或与扩展名所示格式不符） / "
                             f"not a readable Excel workbook (.xlsx): {type(exc).__name__}: {exc} "
                             f"(truncated, or not the format its name says)") from exc
    sheets = []
    try:
        for ws in workbook.worksheets:
            rows = []
            for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                # Excel writes characters XML cannot hold as _xHHHH_ (a CR is _x000D_, a literal
                # "_x" is _x005F_x); openpyxl hands them over as written.
                values = [unescape(v) if isinstance(v, str) else v for v in values]
                while values and _blank(values[-1]):
                    values.pop()
                if values:
                    rows.append((number, values))
            if rows:
                sheets.append(Sheet(ws.title, rows))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as exc:
        raise UnreadableFile(f"Excel 工作簿已损坏：{type(exc).__name__} / "
                             f"the Excel workbook is damaged: {type(exc).__name__}: {exc}") from exc
    finally:
        workbook.close()
    if not sheets:
        raise UnreadableFile("工作簿中没有含表头行的工作表 / the workbook has no sheet with a header row")
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
    column rather than row by row: a delivery can hold hundreds of thousands of rows.

    Raises :class:`UnreadableFile` (bilingual) when no row of a sheet matches the catalog, a
    two-row header does not combine, a CSV line has another field count than the header, two
    columns map to one item, or a required item has no column."""
    source: FileDropSource = resource.pipeline.source
    mapping = header_map(resource)
    derived = _derived(source)
    columns: dict[str, list] = {}
    refs: list[str] = []
    ignored: list[str] = []
    ignored_rows: list[str] = []
    skipped = 0
    for sheet in sheets:
        where = f"{file_name}!{sheet.name}" if sheet.name else file_name
        zh_where, en_where = (f"工作表 {sheet.name!r}", f"sheet {sheet.name!r}") if sheet.name else ("文件", "the file")
        layout = _layout(sheet, mapping)
        if layout is None:
            if sheet.name is not None and len(sheets) > 1:
                ignored.append(f"sheet {sheet.name} (no catalog columns)")  # e.g. a 说明 (notes) sheet
                skipped += 1
                continue
            number, first = sheet.rows[0]
            raise UnreadableFile(
                f"{zh_where}第 {number} {sheet.unit[0]}被当作表头（{_row_text(first)}），但它与目录中任何信息项都不匹配"
                f"（前 {HEADER_SEARCH_ROWS} 行均无匹配的名称、标签或别名） / {en_where}: {sheet.unit[1]} {number} "
                f"({_row_text(first)}) was taken as the header, and it matches no catalog item (no name, label or "
                f"alias in the first {HEADER_SEARCH_ROWS} rows does)")
        headers, body, not_records = layout
        ignored_rows += [_row_note(sheet, n, cells) for n, cells in not_records]
        items = [map_header(mapping, h) for h in headers]
        repeated = sorted({name for name in items if name and items.count(name) > 1})
        if repeated:
            detail = "; ".join(f"{n}: " + ", ".join(h for h, i in zip(headers, items) if i == n) for n in repeated)
            raise UnreadableFile(f"{zh_where}中信息项 {', '.join(repeated)} 有不止一列（{detail}） / {en_where} has more "
                                 f"than one column for the items {', '.join(repeated)}: {detail}")
        wide = source.wide is not None and source.wide.names_to not in items
        pattern = re.compile(source.wide.header_pattern) if wide else None
        value_columns = [i for i, h in enumerate(headers) if wide and items[i] is None and pattern.search(h)]
        present = {name for name in items if name} | (
            {source.wide.names_to, source.wide.values_to} if value_columns else set())
        no_period = wide and not value_columns
        require(resource, present, derived, zh_where + ("（宽表：没有表头符合时期格式）" if no_period else ""),
                en_where + (" (wide layout: no header matches the period pattern)" if no_period else ""))
        numbers = [number for number, _ in body]
        cells = list(zip(*(row for _, row in body))) or [()] * len(headers)
        ignored += [h for i, h in enumerate(headers) if h and items[i] is None and i not in value_columns]
        ignored += [_no_header(i) for i, h in enumerate(headers) if not h and not all(_blank(c) for c in cells[i])]
        unit = sheet.unit[1]
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
            with_values = {r for r, _ in filled}
            ignored_rows += [_row_note(sheet, n, row) + " (各时期列均无数值 / no value in any period column)"
                             for r, (n, row) in enumerate(body) if r not in with_values]
        for name, values in picked:
            column = columns.setdefault(name, [None] * start)
            column.extend(values)
        for column in columns.values():
            column.extend([None] * (len(refs) - len(column)))
    if skipped == len(sheets):
        raise UnreadableFile("没有任何工作表含有目录信息项的列 / no sheet has a column for any catalog item")
    _normalise(source, columns)
    return ParsedFile(columns, refs, sorted(set(h for h in ignored if h)), ignored_rows)


def _layout(sheet: Sheet, mapping: dict[str, str]) -> tuple[list[str], list[tuple[int, list]], list] | None:
    """(header texts, data rows padded to the header's width, rows that are not records: titles
    above the header and footnotes below the data), or None when no row matches the catalog."""
    candidates = sheet.rows[:HEADER_SEARCH_ROWS]
    matches = [sum(1 for c in cells if map_header(mapping, _header_text(c))) for _, cells in candidates]
    if not any(matches):
        return None
    at = matches.index(max(matches))
    number, header = sheet.rows[at]
    body = sheet.rows[at + 1:]
    end = len(body)
    while end and _footnote(body[end - 1][1]):
        end -= 1
    not_records = sheet.rows[:at] + body[end:]
    body = body[:end]
    headers = [_header_text(h) for h in header]
    if sheet.name is None:  # CSV: a line with another field count is truncated or malformed
        for line, values in body:
            if len(values) != len(headers):
                raise UnreadableFile(f"第 {line} 行有 {len(values)} 个字段，而表头有 {len(headers)} 个（文件被截断或格式错误） / "
                                     f"line {line} has {len(values)} fields but the header has {len(headers)} "
                                     f"(the file is truncated or malformed)")
    width = max([len(headers)] + [len(values) for _, values in body])
    headers += [""] * (width - len(headers))
    body = [(n, values if len(values) == width else values + [None] * (width - len(values))) for n, values in body]
    items = [map_header(mapping, h) for h in headers]
    if body and _is_part_row(headers, items, body[0][1]):
        headers = _combine(sheet, number, headers, items, body[0])
        body = body[1:]
    _reject_unnamed_periods(sheet, number, headers, body)
    return headers, body, not_records


def _is_part_row(headers: list[str], items: list, cells: list) -> bool:
    """Whether the row under the header is a second header row: text only (outside the item
    columns) and something under a blank (merged) header or a year. Cells under an item's header
    (``—``, ``(亿元)``) are allowed when the row names a quarter or month of a year above it: a
    data row fills its item columns, so without them it would be taken for a header."""
    filled = [i for i, c in enumerate(cells) if not _blank(c) and not items[i]]
    if not filled or not all(isinstance(cells[i], str) for i in filled):
        return False
    if not any(items[i] and not _blank(c) for i, c in enumerate(cells)):
        return any(not headers[i] or _is_year(headers[i]) for i in filled)
    years = _spanning(headers)
    return any(years[i] and _part_period(years[i], cells[i]) for i in filled)


def _spanning(headers: list[str]) -> list[str]:
    """Per column, the year header above it: its own, or that of a year header merged (left
    blank) over it; "" elsewhere."""
    spans, current = [], ""
    for header in headers:
        current = header if header else current
        spans.append(current if _is_year(current) else "")
    return spans


def _part_period(year: str, part: str) -> periods.Period | None:
    """The quarter or month ``part`` names within ``year``; None for anything else, and for a
    bare number: ``1`` under a year could be a quarter or a month."""
    return None if part.strip().isdigit() else periods.combine(year, part)


def _reject_unnamed_periods(sheet: Sheet, number: int, headers: list[str], body: list[tuple[int, list]]) -> None:
    """Raise :class:`UnreadableFile` when a column with no header, right of a period header (the
    blank part of a merged ``2024年`` cell), holds data: which period it is cannot be told, and
    taking it for the year (or ignoring it) would store a quarter as its year."""
    unnamed, current = [], ""
    for i, header in enumerate(headers):
        current = header if header else current
        if not header and current and periods.parse(current) and any(not _blank(row[i]) for _, row in body):
            unnamed.append(f"{_column_letter(i)}（{current} 右侧 / right of {current}）")
    if unnamed:
        (zh, en), columns = sheet.unit, ", ".join(unnamed)
        raise UnreadableFile(
            f"第 {number} {zh}表头的 {columns} 列没有表头却有数据（合并的时期单元格？），无法判断其时期；请为每个时期列写出表头，"
            f"或在其下增加一行季度/月份（如 一季度、10月） / {en} {number}: the columns {columns} have data but no header "
            f"(a merged period cell?), so their period is unknown: give each period column its own header, or add a "
            f"second header row naming the quarters or months (一季度, 10月)")


def _is_year(text: str) -> bool:
    found = periods.parse(text)
    return found is not None and found.type == "Y"


def _combine(sheet: Sheet, number: int, headers: list[str], items: list, second: tuple[int, list]) -> list[str]:
    """One header from two rows: a header cell merged (or left blank) over several columns
    spans them, a year over a period part becomes that period (``2024年`` + ``一季度`` ->
    ``2024Q1``), an item's header stays as it is (``计量单位`` over ``(亿元)``), other pairs are
    joined (``指标`` + ``代码``). Raises :class:`UnreadableFile` naming both rows when a year's
    parts are not periods (a bare number is not: quarter or month?), or only some of its columns
    have one."""
    parts = ["" if item else cell_text(c) or "" for c, item in zip(second[1], items)]
    groups: list[list[int]] = []
    tops: list[str] = []
    for i, (top, part) in enumerate(zip(headers, parts)):
        if top or not part or not groups or not tops[-1]:
            groups.append([i])
            tops.append(top)
        else:  # the continuation of a header merged over several columns
            groups[-1].append(i)
    combined, failures = [""] * len(headers), []
    for group, top in zip(groups, tops):
        if top and len(group) > 1 and not all(parts[i] for i in group):
            failures.append(f"{top} + " + ", ".join(parts[i] or "(空白/blank)" for i in group))
            continue
        for i in group:
            combined[i] = _join(top, parts[i], failures)
    if failures:
        (zh, en), first = sheet.unit, number
        raise UnreadableFile(
            f"第 {first}、{second[0]} {zh}是两行表头，无法合成时期：{'；'.join(failures)} / {en}s {first} and {second[0]} "
            f"are a two-row header that does not combine into periods: {'; '.join(failures)}")
    return combined


def _join(top: str, part: str, failures: list[str]) -> str:
    if not part or not top:
        return top or part
    if _is_year(top):
        found = _part_period(top, part)
        if found is None:
            failures.append(f"{top} + {part}")
            return ""
        return found.text
    return top + part


def _footnote(cells: list) -> bool:
    filled = [c for c in cells if not _blank(c)]
    return len(filled) == 1 and isinstance(filled[0], str) and FOOTNOTE.match(filled[0]) is not None


def _row_text(cells: list) -> str:
    return " | ".join(cell_text(c) for c in cells if not _blank(c))


def _row_note(sheet: Sheet, number: int, cells: list) -> str:
    """How ``ignored_rows`` names a row that is not a record: ``Sheet1 row 1: <its cells>``."""
    return f"{sheet.name + ' ' if sheet.name else ''}{sheet.unit[1]} {number}: {_row_text(cells)}"


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _no_header(index: int) -> str:
    return f"column {_column_letter(index)} (no header)"


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
