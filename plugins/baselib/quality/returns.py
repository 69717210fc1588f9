"""Returns to providers (数据回退): a provider's open quarantine entries and pending data
objections as an Excel workbook with Chinese headers, dropped into its return folder.

The workbook (:func:`workbook`) has three sheets:

* ``退回数据 Rejected rows``: one row per OPEN entry of ``ops.quarantine`` of the resources the
  provider DELIVERS (provider from ``catalog.resource``; theme resources, ``source.kind: sql_model``,
  are left out: see below): resource code and name, record key, reason, the
  failed checks, where the row is in the source (file name and line / sheet row / feature for a
  file drop, source table and key for a database table, endpoint and key for an API), the source
  row as delivered (one column, JSON text with the catalog item names: :func:`source_row_text`,
  a geometry as a GeoJSON geometry object, an empty value as JSON ``null``), first/last seen
  (Asia/Shanghai) and times seen.
* ``数据异议 Objections``: the provider's objections still open or confirmed.
* ``说明 About``: provider, generation time, counts and how to send corrections back.

The provider receives its own data: values are shown as delivered (not masked), and never another
provider's rows. A theme resource (专题库/主题库, built by the platform from other providers' data,
catalogued under the platform's data bureau) is not a delivery: its quarantined rows hold other
providers' (personal) values and are the platform's own defects, so they are never returned to
anyone; they are seen in the theme load's quality report (masked samples) and in ``ops.quarantine``.
Every cell except the counts is text (an 18-digit identifier never becomes a float).

:func:`drop` writes the workbook to ``<returns_url()>/<provider>/退回-<provider>-<timestamp>.xlsx``
(``file://`` or ``s3://`` through pyarrow's filesystem layer) and, in the same transaction under an
advisory lock per provider, records ``ops.quality_return`` and marks exactly the exported entries
``returned``. Sources: ``ops.quarantine``, ``ops.file_delivery``, ``catalog.resource``,
``sharing.objection`` and the catalog entries (``baselib.catalog``) for the source locations.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import sys
import unicodedata
import zoneinfo
from pathlib import Path
from urllib.parse import unquote

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from baselib.errors import BaselibError
from baselib.warehouse import sqlfiles

log = logging.getLogger(__name__)

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
FILE_TIME_FORMAT = "%Y%m%dT%H%M%S"

SHEET_ROWS = "退回数据 Rejected rows"
SHEET_OBJECTIONS = "数据异议 Objections"
SHEET_ABOUT = "说明 About"

ROW_HEADERS = [
    "资源代码\nResource code", "资源名称\nResource name", "记录键\nRecord key", "原因\nReason",
    "未通过的检查\nFailed checks", "来源位置\nLocation in the source", "源数据行\nSource row (JSON)",
    "首次发现\nFirst seen (UTC+8)", "最近发现\nLast seen (UTC+8)", "次数\nTimes seen",
]
OBJECTION_HEADERS = [
    "异议编号\nObjection id", "资源代码\nResource code", "资源名称\nResource name", "记录键\nRecord key",
    "信息项\nItem", "所见值\nValue seen", "期望值\nValue expected", "依据\nEvidence", "提出时间\nRaised at (UTC+8)",
    "答复期限\nAnswer due (UTC+8)", "更正期限\nCorrection due (UTC+8)", "状态\nStatus",
]
OBJECTION_STATUS = {"open": "待答复 open (to answer)", "confirmed": "已确认待更正 confirmed (to correct)"}
MAX_WIDTH = 60

ABOUT_THE_DATA = (
    "本工作簿只含贵单位自己报送的数据，按原样（未脱敏）列出。平台用多个单位的数据加工的主题库资源不是报送数据，其拒收行不退回，"
    "由平台在各批次质量报告中处理。 / This workbook holds only the data your organisation delivered, shown as "
    "delivered (not masked). Theme resources the platform builds from several organisations' data are not a "
    "delivery: their rejected rows are never returned; the platform handles them (see each load's quality report).")

HOW_TO_CORRECT = (
    "退回数据：请在本单位系统中更正这些记录，并按原渠道重新报送（文件投放目录、前置库表或接口）；平台下一次加载接受该记录键时，"
    "该条目自动核销。原样再次报送的错误记录仍会被拒收。 / Rejected rows: correct them in your own system and deliver "
    "them again through the usual channel (landing folder, front-end table or API); the next load that accepts a "
    "row's key resolves its entry. A bad row sent again unchanged is rejected again.\n"
    "数据异议：请通过数据异议流程答复（确认或驳回并说明理由），确认后在更正期限内更正数据。 / Objections: answer them "
    "through the objection process (confirm, or reject with a reason); once confirmed, correct the value before "
    "the correction due date.")


def _local(value: dt.datetime | None) -> str:
    """A timestamptz as ``YYYY-MM-DD HH:MM:SS`` in Asia/Shanghai; '' for None."""
    return "" if value is None else value.astimezone(SHANGHAI).strftime(TIME_FORMAT)


def _text(value) -> str:
    return "" if value is None else str(value)


EXCEL_CELL_CHARS = 32_767  # the most characters Excel keeps in one cell
GEOJSON_DECIMALS = 7       # coordinates in the workbook: 1e-7 degree, about 1 cm


def _geometry(value, binary: bool):
    """A WKB hex value (``\\x``-prefixed as the extract carries a 通用型 G item) as a GeoJSON
    geometry object (coordinates to :data:`GEOJSON_DECIMALS` places), or None when it is not WKB
    (an item not of type G must carry the prefix to be tried)."""
    import numpy as np
    import shapely

    from baselib.geometry import shapes

    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.startswith(shapes.BYTEA_HEX_PREFIX):
        text = text[len(shapes.BYTEA_HEX_PREFIX):]
    elif not binary:
        return None
    if not text or len(text) % 2 or not re.fullmatch(r"[0-9A-Fa-f]+", text):
        return None
    try:
        geom = shapely.from_wkb(text, on_invalid="ignore")
    except Exception:  # noqa: BLE001 - not WKB: shown as delivered
        return None
    if geom is None:
        return None
    geom = shapely.transform(geom, lambda xy: np.round(xy, GEOJSON_DECIMALS))
    return json.loads(shapely.to_geojson(geom))


def source_row_text(source_row, resource=None) -> str:
    """``ops.quarantine.source_row`` (JSON text or a dict) as the provider would recognise it: JSON
    with the catalog item names, geometry (a WKB value of a G item of ``resource``, or any
    ``\\x``-prefixed WKB) as a GeoJSON geometry object, empty values (and NaN) as ``null``, other
    values as stored. A row whose text would not fit one Excel cell (:data:`EXCEL_CELL_CHARS`)
    shows each geometry as its type and point count instead. Text that is not JSON is returned as
    it is."""
    from baselib.catalog.model import DataType

    if source_row is None:
        return ""
    try:
        row = json.loads(source_row) if isinstance(source_row, str) else source_row
    except ValueError:
        return str(source_row)
    if not isinstance(row, dict):
        return str(source_row)
    binary = {item.name for item in resource.items if item.type == DataType.G} if resource is not None else set()
    shown, summaries = {}, {}
    for name, value in row.items():
        if isinstance(value, float) and value != value:
            value = None
        geometry = _geometry(value, name in binary)
        if geometry is not None:
            summaries[name] = f"{geometry['type'].upper()} (…, {_points(geometry)} points)"
            value = geometry
        shown[name] = value
    text = json.dumps(shown, ensure_ascii=False, allow_nan=False, default=str)
    if len(text) > EXCEL_CELL_CHARS:
        text = json.dumps({**shown, **summaries}, ensure_ascii=False, allow_nan=False, default=str)
    return text


def _points(geometry: dict) -> int:
    def count(coords) -> int:
        if coords and isinstance(coords[0], (int, float)):
            return 1
        return sum(count(c) for c in coords)

    if geometry.get("type") == "GeometryCollection":
        return sum(_points(g) for g in geometry.get("geometries", []))
    return count(geometry.get("coordinates") or [])


def failed_checks_text(failed) -> str:
    """``ops.quarantine.failed_expectations`` (``[{"expectation", "check", "severity", "reason"}]``,
    jsonb or its text) as one line per check: ``<check> [<severity>]: <reason>``."""
    if isinstance(failed, str):
        failed = json.loads(failed)
    lines = []
    for f in failed or []:
        if not isinstance(f, dict):
            lines.append(str(f))
            continue
        name = f.get("check") or f.get("expectation") or "?"
        column = f" ({f['column']})" if f.get("column") else ""
        severity = f" [{f['severity']}]" if f.get("severity") else ""
        reason = f": {f['reason']}" if f.get("reason") else ""
        lines.append(f"{name}{column}{severity}{reason}")
    return "\n".join(lines)


_UNITS = {"line": ("第 {n} 行", "line {n}"), "row": ("第 {n} 行", "row {n}"), "feature": ("第 {n} 个要素", "feature {n}")}
_REF = re.compile(r"^(?:!(?P<sheet>.+?) )?(?P<unit>line|row|feature) (?P<n>\d+)(?P<rest>.*)$")


def file_location(file_name: str | None, source_ref: str | None) -> str:
    """Where a file drop's row is, bilingual: ``文件 <name> 第 17 行 / line 17``, ``文件 <name> 工作表
    Sheet1 第 5 行 / sheet Sheet1 row 5``, ``文件 <name> 第 3 个要素 / feature 3 (id x)``; a wide
    layout's ``column <header>`` is kept. ``source_ref`` as the file-drop source writes it
    (``<file> line 17``, ``<file>!<sheet> row 5``, ``<file> feature 3``)."""
    ref = source_ref or ""
    if file_name is None or not ref.startswith(file_name):
        return (f"文件 {file_name}" + (f"：{ref}" if ref else "")) if file_name else ref
    name, rest = file_name, ref[len(file_name):]
    match = _REF.match(rest if rest.startswith("!") else rest.strip())
    if not match:
        return f"文件 {name}" + (f"：{ref}" if ref and ref != name else "")
    zh, en = (t.format(n=match["n"]) for t in _UNITS[match["unit"]])
    tail = match["rest"].strip()
    column = re.match(r"^column (?P<c>.+)$", tail)
    extra_zh = f" 列 {column['c']}" if column else (f" {tail}" if tail else "")
    extra_en = f" column {column['c']}" if column else (f" {tail}" if tail else "")
    if match["sheet"]:
        return f"文件 {name} 工作表 {match['sheet']} {zh}{extra_zh} / sheet {match['sheet']} {en}{extra_en}"
    return f"文件 {name} {zh}{extra_zh} / {en}{extra_en}"


def source_location(resource, record_key: str | None, delivery_path: str | None, source_ref: str | None) -> str:
    """The row's location in the provider's source, derived from the catalog entry's
    ``pipeline.source`` (``resource``; None when the entry is no longer in the catalog): a file
    drop's file and position, a database table (or query) and key, an API endpoint and key."""
    key = _text(record_key)
    kind = getattr(getattr(getattr(resource, "pipeline", None), "source", None), "kind", None)
    if delivery_path is not None or kind == "file_drop":
        file_name = unquote(delivery_path.rstrip("/").rsplit("/", 1)[-1]) if delivery_path else None
        return file_location(file_name, source_ref)
    source = resource.pipeline.source if kind else None
    if kind == "postgres":
        where = source.table or "查询 query"
        return f"源表 {where}（连接 {source.conn_id}）记录键 {key} / table {where} ({source.conn_id}), key {key}"
    if kind == "http_api":
        return f"接口 {source.endpoint}（连接 {source.conn_id}）记录键 {key} / endpoint {source.endpoint} " \
               f"({source.conn_id}), record key {key}"
    if kind == "sql_model":
        return f"主题模型 {source.model} 记录键 {key} / theme model {source.model}, key {key}"
    return source_ref or f"记录键 {key} / key {key}"


def _width(value) -> int:
    """Display width of the longest line of a cell (East Asian wide characters count twice)."""
    lines = _text(value).split("\n") or [""]
    return max(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line) for line in lines)


def _sheet(book: Workbook, title: str, headers: list[str], rows: list[list], numeric: set[int] = frozenset()):
    """A sheet with bold, frozen, wrapped headers, text cells (``@``) except columns ``numeric``,
    and column widths from the content (capped at :data:`MAX_WIDTH` characters)."""
    sheet = book.create_sheet(title)
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        sheet.append([v if i in numeric else _text(v) for i, v in enumerate(row)])
    for row in sheet.iter_rows(min_row=2):
        for i, cell in enumerate(row):
            if i not in numeric:
                cell.number_format = "@"
                cell.data_type = "s"  # a delivered "=…" stays text, never a formula Excel would run
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    for i, header in enumerate(headers, start=1):
        widest = max([_width(header)] + [_width(r[i - 1]) for r in rows])
        sheet.column_dimensions[get_column_letter(i)].width = min(MAX_WIDTH, widest + 2)
    return sheet


def _catalog_by_code() -> dict:
    from baselib.catalog import load_catalog

    return {r.code: r for r in load_catalog()}


def theme_codes(catalog: dict | None = None) -> list[str]:
    """Codes of the catalog's theme resources (``source.kind: sql_model``, built by the platform
    from other providers' data): never part of a return (see the module docstring). ``catalog``:
    code -> entry (default: the catalog files)."""
    catalog = _catalog_by_code() if catalog is None else catalog
    return sorted(code for code, r in catalog.items() if r.is_theme)


class ReturnNotWritten(BaselibError):
    """A provider's workbook could not be written to its return folder (the returns root is not
    writable, a file is in the way, the object store refused it). Nothing was marked."""


def known_providers(conn) -> dict[str, str]:
    """provider code -> name, from ``catalog.resource`` (the published catalog) and the catalog files."""
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/quality_return_known_providers"))
        known = dict(cur.fetchall())
    conn.commit()
    for resource in _catalog_by_code().values():
        known.setdefault(resource.provider.code, resource.provider.name)
    return known


def workbook(conn, provider_code: str, *, unsent_objections_only: bool = False,
             now: dt.datetime | None = None) -> tuple[Workbook, list[int], list[int]]:
    """The return workbook of ``provider_code`` as the warehouse holds it now (reads only; the
    caller owns the transaction). Returns ``(workbook, quarantine_ids, objection_ids)``: the ids
    of the open ``ops.quarantine`` entries and of the pending ``sharing.objection`` rows it lists,
    in sheet order. Entries of theme resources (:func:`theme_codes`, or any theme that ever
    refreshed) are never listed. ``unsent_objections_only``: only objections no earlier return
    carried (what :func:`drop` sends). ``now``: the generation time shown on the About sheet (default: now)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    catalog = _catalog_by_code()
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/quality_return_entries"),
                    {"provider_code": provider_code, "theme_codes": theme_codes(catalog)})
        entries = cur.fetchall()
        cur.execute(sqlfiles.text("queries/quality_return_objections"),
                    {"provider_code": provider_code, "unsent_only": unsent_objections_only})
        objections = cur.fetchall()
        cur.execute("SELECT min(provider_name) FROM catalog.resource WHERE provider_code = %s", (provider_code,))
        provider_name = cur.fetchone()[0]
    if provider_name is None:
        provider_name = next((r.provider.name for r in catalog.values() if r.provider.code == provider_code), "")

    rows = []
    for (_qid, code, name, key, reason, failed, source_ref, delivery_path, source_row, first_seen, last_seen,
         times_seen) in entries:
        rows.append([code, name, key, reason, failed_checks_text(failed),
                     source_location(catalog.get(code), key, delivery_path, source_ref),
                     source_row_text(source_row, catalog.get(code)), _local(first_seen), _local(last_seen),
                     times_seen])
    objection_rows = [
        [oid, code, name, key, item, seen, expected, evidence, _local(raised), _local(answer_due),
         _local(correction_due), OBJECTION_STATUS.get(status, status)]
        for (oid, code, name, key, item, seen, expected, evidence, raised, answer_due, correction_due, status,
             _return_id) in objections]

    book = Workbook()
    book.remove(book.active)
    _sheet(book, SHEET_ROWS, ROW_HEADERS, rows, numeric={len(ROW_HEADERS) - 1})
    _sheet(book, SHEET_OBJECTIONS, OBJECTION_HEADERS, objection_rows)
    about = [
        ["提供方\nProvider", provider_name],
        ["提供方代码\nProvider code", provider_code],
        ["生成时间\nGenerated (UTC+8)", _local(now)],
        ["退回数据条数\nRejected rows", len(rows)],
        ["数据异议条数\nObjections", len(objection_rows)],
        ["数据说明\nAbout the data", ABOUT_THE_DATA],
        ["如何反馈更正\nHow to send corrections", HOW_TO_CORRECT],
    ]
    _sheet(book, SHEET_ABOUT, ["项目\nField", "内容\nValue"], about, numeric=set())
    sheet = book[SHEET_ABOUT]
    for r in (5, 6):  # the counts stay numbers
        sheet.cell(row=r, column=2).value = about[r - 2][1]
        sheet.cell(row=r, column=2).number_format = "0"
    sheet.column_dimensions["B"].width = 100
    return book, [e[0] for e in entries], [o[0] for o in objections]


def _bytes(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def _connect():
    from baselib.warehouse import connections, schema

    conn = connections.connect("warehouse")
    schema.ensure(conn, [])  # the shared DDL (idempotent): the return tables exist on a fresh warehouse
    return conn


def _check_provider(conn, provider_code: str) -> None:
    known = known_providers(conn)
    if provider_code not in known:
        listing = ", ".join(f"{code} ({name})" for code, name in sorted(known.items())) or "none"
        _fail(f"unknown provider {provider_code!r}: known provider codes are {listing}")


def command_export(args) -> None:
    """``quality export --provider <code> [--output F]``: write the provider's workbook (all pending
    objections) to ``F`` (default ``REPORTS_DIR/returns/<provider>-<YYYYmmddTHHMMSS>.xlsx``, local
    time) and print the path and counts. Marks nothing. Unknown provider, an output that is not
    ``.xlsx``, or one that cannot be written (a folder of that name, a file in the way of its
    folder, no permission): ``error: …`` naming it and exit 1, no file, no ``.part`` and no folder
    left behind."""
    from baselib.security.redaction import describe
    from baselib.settings import REPORTS_DIR

    now = dt.datetime.now(dt.timezone.utc)
    if args.output and not args.output.lower().endswith(".xlsx"):
        _fail(f"--output must name an .xlsx file, not {args.output!r}")
    if args.output and Path(args.output).is_dir():
        _fail(f"cannot write the workbook to {args.output}: it is a folder")
    try:
        conn = _connect()
    except Exception as exc:  # noqa: BLE001 - a connection problem is the user's to fix
        _fail(f"cannot reach the warehouse: {describe(exc)}")
    try:
        _check_provider(conn, args.provider)
        book, quarantine_ids, objection_ids = workbook(conn, args.provider, now=now)
        conn.rollback()
    finally:
        conn.close()
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", args.provider)
    path = Path(args.output) if args.output else (
        REPORTS_DIR / "returns" / f"{safe}-{now.astimezone(SHANGHAI).strftime(FILE_TIME_FORMAT)}.xlsx")
    try:
        _write_atomically(path, _bytes(book))
    except OSError as exc:
        _fail(f"cannot write the workbook to {path}: {_os_reason(exc)}")
    print(f"{path}")
    print(f"provider {args.provider}: {len(quarantine_ids)} rejected row(s), {len(objection_ids)} objection(s) "
          "(nothing marked returned)")


def _os_reason(exc: OSError) -> str:
    """What went wrong writing a file, for a person: ``<reason> (<file>)``, e.g.
    ``Not a directory (/x/blocker/out.xlsx)``; the class and message when there is no errno."""
    from baselib.security.redaction import redact

    if exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return redact(f"{exc.strerror}{where}")
    return redact(f"{type(exc).__name__}: {exc}")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``<path>.part`` and a rename (a reader never sees half a
    workbook), creating missing folders. Raises OSError (a folder of that name, a file in the way,
    no permission, disk full) with nothing left behind: no ``.part``, no folder it created."""
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    missing = []
    for folder in path.parents:
        if os.path.lexists(folder):
            if not folder.is_dir():
                raise NotADirectoryError(20, "Not a directory: a file is in the way of the folder", str(folder))
            break
        missing.append(folder)
    partial = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        partial.replace(path)
    except BaseException:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass
        for folder in missing:  # deepest first: only the folders this write created
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _target(provider_code: str, stamp: str, returns_root: str) -> tuple:
    """(filesystem, path, uri) of a new workbook in the provider's return folder; a name already
    taken (two returns in one second) gets ``-2``, ``-3`` …"""
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(returns_root)
    folder = f"{root.rstrip('/')}/{provider_code}"
    fs.create_dir(folder, recursive=True)
    base = f"退回-{provider_code}-{stamp}"
    n = 1
    while True:
        name = f"{base}.xlsx" if n == 1 else f"{base}-{n}.xlsx"
        if fs.get_file_info(f"{folder}/{name}").type == pafs.FileType.NotFound:
            return fs, f"{folder}/{name}", f"{returns_root}/{provider_code}/{name}"
        n += 1


def _write(provider_code: str, data: bytes, now: dt.datetime, root: str) -> tuple:
    """Write the workbook bytes into the provider's return folder: ``(filesystem, path, uri)``.
    Raises :class:`ReturnNotWritten` (naming the folder, credentials redacted) when the folder
    cannot be created or the file cannot be written; a half-written file is removed."""
    import pyarrow as pa

    from baselib.security.redaction import redact

    path = None
    try:
        fs, path, uri = _target(provider_code, now.astimezone(SHANGHAI).strftime(FILE_TIME_FORMAT), root)
        with fs.open_output_stream(path) as out:
            out.write(data)
        return fs, path, uri
    except (OSError, pa.ArrowException) as exc:
        if path is not None:
            try:
                fs.delete_file(path)
            except (OSError, pa.ArrowException):
                pass
        reason = _os_reason(exc) if isinstance(exc, OSError) else redact(f"{type(exc).__name__}: {exc}")
        raise ReturnNotWritten(f"provider {provider_code}: cannot write the return workbook under "
                               f"{redact(root)}/{provider_code}: {reason}") from None


def drop(conn, provider_code: str, *, returns_root: str | None = None, run_id: str = "cli",
         now: dt.datetime | None = None) -> dict | None:
    """Drop the provider's workbook into ``<returns_root>/<provider_code>/退回-<provider>-<YYYYmmddTHHMMSS>.xlsx``
    (``returns_root``: default :func:`baselib.settings.returns_url`, ``file://`` or ``s3://``) and
    mark what it carries, in ONE transaction of ``conn`` under an advisory lock per provider:
    the open quarantine entries become ``returned`` (``returned_at``, ``return_id``; only those
    still open), the pending objections no return carried yet get the ``return_id``, and a row
    of ``ops.quality_return`` records the file. ``conn``: a psycopg2 connection or a factory
    returning one (then closed here). ``run_id``: the Airflow run id, or 'cli'.

    Returns ``{"provider_code", "return_id", "uri", "quarantine_entries", "objections"}``, or
    None when there is nothing to send (no file is written). Single-flight: a concurrent drop for
    the same provider waits for the lock and then finds the entries returned. An upload failure
    (the return folder cannot be created or written) raises :class:`ReturnNotWritten` with
    nothing marked and no file left; a failure after the upload rolls back, so the entries stay open
    and the next drop sends them again (the earlier file stays in the folder, unrecorded)."""
    from baselib.settings import returns_url

    if callable(conn):
        own = conn()
        try:
            return drop(own, provider_code, returns_root=returns_root, run_id=run_id, now=now)
        finally:
            own.close()
    root = (returns_root or returns_url()).rstrip("/")
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        with conn.cursor() as cur:
            cur.execute(sqlfiles.text("queries/quality_return_lock"), {"provider_code": provider_code})
        book, quarantine_ids, objection_ids = workbook(conn, provider_code, unsent_objections_only=True, now=now)
        if not quarantine_ids and not objection_ids:
            conn.rollback()
            log.info("provider %s: nothing to return", provider_code)
            return None
        fs, path, uri = _write(provider_code, _bytes(book), now, root)
        with conn.cursor() as cur:
            cur.execute(sqlfiles.text("queries/quality_return_insert"), {
                "provider_code": provider_code, "uri": uri, "quarantine_entries": len(quarantine_ids),
                "objections": len(objection_ids), "run_id": run_id})
            return_id, _created = cur.fetchone()
            cur.execute(sqlfiles.text("queries/quality_return_mark_quarantine"),
                        {"ids": quarantine_ids, "return_id": return_id, "now": now})
            marked = len(cur.fetchall())
            cur.execute(sqlfiles.text("queries/quality_return_mark_objections"),
                        {"ids": objection_ids, "return_id": return_id})
            marked_objections = len(cur.fetchall())
        if marked != len(quarantine_ids) or marked_objections != len(objection_ids):
            # another drop cannot interleave (the lock), but a load may have resolved an entry since
            # it was read: the workbook still lists it, the entry stays resolved
            log.warning("provider %s: %d of %d entries and %d of %d objections were still unsent when marked "
                        "(the others were resolved meanwhile)", provider_code, marked, len(quarantine_ids),
                        marked_objections, len(objection_ids))
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    log.info("provider %s: return %s with %d rejected row(s) and %d objection(s) at %s", provider_code,
             return_id, len(quarantine_ids), len(objection_ids), uri)
    return {"provider_code": provider_code, "return_id": return_id, "uri": uri,
            "quarantine_entries": len(quarantine_ids), "objections": len(objection_ids)}


def providers_to_return(conn) -> list[str]:
    """Provider codes with open quarantine entries (of resources they deliver, not of theme
    resources: :func:`theme_codes`) or pending objections not yet returned."""
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/quality_return_providers"), {"theme_codes": theme_codes()})
        codes = [r[0] for r in cur.fetchall()]
    conn.commit()
    return codes


def command_return(args) -> None:
    """``quality return [--provider X ...]``: :func:`drop` for each named provider (default: each
    provider with something to send) and print where each workbook went, or that there was
    nothing. Unknown provider: ``error: …`` and exit 1 before anything is written. A provider whose
    workbook cannot be written (:class:`ReturnNotWritten`: the returns root is not writable) gets an
    ``error: provider <code>: …`` line on stderr with nothing marked, the other providers still
    go, and the command exits 1 at the end."""
    from baselib.security.redaction import describe

    try:
        conn = _connect()
    except Exception as exc:  # noqa: BLE001
        _fail(f"cannot reach the warehouse: {describe(exc)}")
    try:
        if args.provider:
            for code in args.provider:
                _check_provider(conn, code)
            codes = list(dict.fromkeys(args.provider))
        else:
            codes = providers_to_return(conn)
        if not codes:
            print("nothing to return: no provider has open entries or unsent objections")
        failed = []
        for code in codes:
            try:
                result = drop(conn, code, run_id="cli")
            except ReturnNotWritten as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed.append(code)
                continue
            if result is None:
                print(f"{code}: nothing to return")
            else:
                print(f"{code}: {result['uri']} ({result['quarantine_entries']} rejected row(s), "
                      f"{result['objections']} objection(s), return {result['return_id']})")
    finally:
        conn.close()
    if failed:
        _fail(f"{len(failed)} of {len(codes)} return(s) not written ({', '.join(failed)}); nothing of theirs "
              "was marked")
