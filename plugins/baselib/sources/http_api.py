"""Extract from a department's paged HTTP JSON API (服务接口), written as Parquet parts.

The endpoint answers ``GET {base}{endpoint}?page_size=&updated_since=&updated_until=&cursor=``
with ``{"items": [...], "next_cursor": str | null}``, behind a bearer token. The client:

- retries transient failures (408, 429, 502, 503, 504, connection errors, timeouts) with
  exponential backoff, and waits at least ``Retry-After`` when the server sends one;
- never duplicates a record across pages: it remembers each key it has kept, skips a repeat
  with the same content, and when a repeat differs it keeps the version with the newer
  incremental value (the later one on a tie), dropping the earlier row from the parts;
- fails with :class:`SourceError` naming the URL and page on a structurally unreadable page
  (invalid or truncated JSON, no ``items`` list, items that are not objects), on 4xx answers
  (401 says to check the token), and when the retries run out.

Only the catalog's items are kept (other JSON keys are ignored) and typed with
:func:`arrow_schema`; rows are numbered with ``_source_row`` like every source. A value that is
not of its item's type (an epoch-millisecond number for a date, ``"yes?"`` for a logical …) is a
problem of that record alone: it is kept with the value NULL and the problem in
``_conversion_error``, so it is quarantined naming the value, and the others load. A record
without its key is kept too (never de-duplicated) and quarantined as its key missing. A record's
unreadable incremental value does not count towards the watermark. A date-time without an offset
is read in the provider's time zone. Numbers keep the provider's token in text items
(``100.10`` stays ``100.10``: :func:`baselib.sources.values.parse_json`). The text rules of
:mod:`baselib.sources.text` apply.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import logging
import os
import time
import zoneinfo
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx
import pyarrow as pa

from baselib.catalog.model import Resource
from baselib.errors import SourceError
from baselib.sources.extract import CONVERSION_ERROR, ROW_ID, ExtractResult, arrow_schema
from baselib.sources.text import TextRules
from baselib.sources.values import converter, parse_json, typed_value
from baselib.sources.window import ExtractWindow
from baselib.records.progress import Progress
from baselib.storage import PartWriter, read_part

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.5     # first retry waits this long, then 2x per attempt
BACKOFF_CAP_SECONDS = 30.0     # no single backoff wait is longer
RETRY_AFTER_CAP_SECONDS = 300.0  # a longer Retry-After fails the extract instead of stalling the task
TRANSIENT_STATUSES = frozenset({408, 429, 502, 503, 504})
UTC = dt.timezone.utc


@dataclass(frozen=True)
class HttpConnection:
    base_url: str          # scheme://host[:port][/path], no trailing slash
    token: str | None


def _base_url(scheme: str, host: str, port, path: str = "") -> str:
    if "://" in host:  # Airflow's HTTP connections allow the host to carry the scheme
        parsed = urlsplit(host)
        scheme, host, path = parsed.scheme, parsed.netloc, parsed.path or path
    hostport = f"{host}:{port}" if port and ":" not in host.rsplit("]", 1)[-1] else host
    return f"{scheme}://{hostport}{('/' + path.strip('/')) if path.strip('/') else ''}"


def _scheme_and_path(conn_scheme: str, schema: str | None) -> tuple[str, str]:
    """Airflow keeps an HTTP connection's scheme in ``schema`` (the URI's path); anything else is a path."""
    schema = (schema or "").strip("/")
    if schema in ("http", "https"):
        return schema, ""
    return (conn_scheme if conn_scheme in ("http", "https") else "http"), schema


def parse_connection(raw: str) -> HttpConnection:
    """An Airflow-style URI (``http://:<token>@host:port/``, ``https://…``) or Airflow's JSON form."""
    raw = raw.strip()
    if raw.startswith("{"):
        conn = json.loads(raw)
        scheme, path = _scheme_and_path(conn.get("conn_type") or "http", conn.get("schema"))
        extra = conn.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
        token = conn.get("password") or extra.get("token")
        return HttpConnection(_base_url(scheme, conn.get("host") or "", conn.get("port"), path), token)
    parts = urlsplit(raw)
    if not parts.hostname:
        raise ValueError("the URI has no host")
    scheme, path = _scheme_and_path(parts.scheme.lower(), unquote(parts.path))
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    token = unquote(parts.password) if parts.password else None
    return HttpConnection(_base_url(scheme, host, parts.port, path), token)


def resolve_connection(conn_id: str) -> HttpConnection:
    """``AIRFLOW_CONN_<ID>`` first, then Airflow's connections. Raises ``LookupError`` saying what to set."""
    env_name = f"AIRFLOW_CONN_{conn_id.upper()}"
    raw = os.environ.get(env_name)
    if raw:
        try:
            return parse_connection(raw)
        except (ValueError, json.JSONDecodeError) as exc:
            raise LookupError(f"{env_name} is not a usable HTTP connection: {exc}") from exc
    with contextlib.suppress(ImportError):
        from airflow.sdk import Connection  # only inside Airflow; the engine runs without it

        with contextlib.suppress(Exception):
            conn = Connection.get(conn_id)
            scheme, path = _scheme_and_path(conn.conn_type or "http", conn.schema)
            token = conn.password or (conn.extra_dejson or {}).get("token")
            return HttpConnection(_base_url(scheme, conn.host or "", conn.port, path), token)
    raise LookupError(f"connection {conn_id!r} is not configured: set {env_name} "
                      f"(e.g. http://:<token>@127.0.0.1:8765/ ; the password is the API token)")


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - dt.datetime.now(UTC)).total_seconds())
    return None


def _iso(ts: dt.datetime) -> str:
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()


class HttpApiSource:
    def __init__(self, resource: Resource, backoff_base: float | None = None, backoff_cap: float | None = None,
                 transport: httpx.BaseTransport | None = None):
        self.resource = resource
        self.settings = resource.pipeline.source
        self.backoff_base = BACKOFF_BASE_SECONDS if backoff_base is None else backoff_base
        self.backoff_cap = BACKOFF_CAP_SECONDS if backoff_cap is None else backoff_cap
        self._transport = transport
        self.requests_made = 0   # HTTP requests sent by the last extract, retries included
        self.retries_made = 0

    # ---------------------------------------------------------------------------------------
    def extract(self, window: ExtractWindow, dest_prefix: str, chunk_rows: int) -> ExtractResult:
        code, conn_id = self.resource.code, self.settings.conn_id
        try:
            conn = resolve_connection(conn_id)
        except LookupError as exc:
            raise SourceError(f"{code}: cannot connect to {conn_id}: {exc}") from exc
        headers = {"Accept": "application/json"}
        if conn.token:
            headers["Authorization"] = f"Bearer {conn.token}"
        params: dict[str, str | int] = {"page_size": self.settings.page_size}
        if self.settings.incremental_column:
            if window.lower is not None:
                params["updated_since"] = _iso(window.lower)
            if window.upper is not None:
                params["updated_until"] = _iso(window.upper)
        self.requests_made = self.retries_made = 0
        with httpx.Client(base_url=conn.base_url, headers=headers, timeout=self.settings.timeout_seconds,
                          transport=self._transport, follow_redirects=False) as client:
            return _Extraction(self, client, params, dest_prefix, chunk_rows).run()

    # ---------------------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_cap, self.backoff_base * (2 ** attempt))

    def fetch_page(self, client: httpx.Client, params: dict, page_no: int) -> dict:
        """One page, retried on transient failures; the parsed, checked JSON body."""
        code, endpoint = self.resource.code, self.settings.endpoint
        url = f"{client.base_url}{endpoint.lstrip('/') if str(client.base_url).endswith('/') else endpoint}"
        where = f"page {page_no} of {url}"
        max_retries = self.settings.max_retries
        attempt = 0
        while True:
            problem, wait = None, None
            try:
                self.requests_made += 1
                response = client.get(endpoint, params=params)
            except httpx.TimeoutException as exc:
                problem = f"timed out after {self.settings.timeout_seconds:g} s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                problem = f"connection failed: {type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return self._parse(response, where)
                if response.status_code not in TRANSIENT_STATUSES:
                    hint = ""
                    if response.status_code in (401, 403):
                        hint = f": check the API token (the password of connection {self.settings.conn_id!r})"
                    raise SourceError(f"{code}: HTTP {response.status_code} {response.reason_phrase} on {where}{hint}; "
                                      f"body: {response.text[:200]!r}")
                problem = f"HTTP {response.status_code} {response.reason_phrase}"
                wait = _retry_after_seconds(response.headers.get("Retry-After"))
                if wait is not None and wait > RETRY_AFTER_CAP_SECONDS:
                    raise SourceError(f"{code}: {problem} on {where} asks to wait {wait:g} s "
                                      f"(more than {RETRY_AFTER_CAP_SECONDS:g} s): giving up for this run")
            if attempt >= max_retries:
                raise SourceError(f"{code}: {where} failed after {attempt + 1} attempts "
                                  f"({max_retries} retries); last error: {problem}")
            delay = self._backoff(attempt) if wait is None else max(wait, 0.0)
            log.warning("%s: %s on %s; retry %d/%d in %.2f s", code, problem, where, attempt + 1, max_retries, delay)
            time.sleep(delay)
            attempt += 1
            self.retries_made += 1

    def _parse(self, response: httpx.Response, where: str) -> dict:
        code = self.resource.code
        try:
            body = parse_json(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SourceError(f"{code}: malformed {where}: the body is not valid JSON (truncated or corrupt: {exc}; "
                              f"{len(response.content)} bytes received); nothing was loaded") from exc
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise SourceError(f"{code}: malformed {where}: expected an object with an 'items' list, "
                              f"got {type(body).__name__} {str(body)[:120]!r}; nothing was loaded")
        bad = next((i for i, item in enumerate(body["items"]) if not isinstance(item, dict)), None)
        if bad is not None:
            raise SourceError(f"{code}: malformed {where}: item {bad} is {type(body['items'][bad]).__name__}, "
                              f"not an object; nothing was loaded")
        cursor = body.get("next_cursor")
        if cursor is not None and (not isinstance(cursor, str) or not cursor):
            raise SourceError(f"{code}: malformed {where}: next_cursor must be a non-empty string or null, "
                              f"got {cursor!r}")
        return body


class _Extraction:
    """State of one extract: kept keys, pending rows, parts written, superseded rows."""

    def __init__(self, source: HttpApiSource, client: httpx.Client, params: dict, dest_prefix: str, chunk_rows: int):
        self.source = source
        self.client = client
        self.params = params
        self.resource = source.resource
        self.columns_all = source.resource.column_names
        self.schema_all = arrow_schema(source.resource, self.columns_all).append(pa.field(CONVERSION_ERROR, pa.string()))
        zone = zoneinfo.ZoneInfo(source.resource.provider.timezone)
        self.items = [source.resource.item(c) for c in self.columns_all]
        self.converters = [converter(item.type, zone) for item in self.items]
        self.rules = TextRules(source.resource)
        self.keys = list(source.resource.pipeline.key_columns)
        self.key_idx = [self.columns_all.index(k) for k in self.keys]
        inc = source.settings.incremental_column
        self.inc_idx = self.columns_all.index(inc) if inc in self.columns_all else None
        self.writer = PartWriter(dest_prefix, progress=Progress(log, f"{source.resource.code}: extract"))
        self.chunk_rows = chunk_rows
        self.pending: list[list | None] = []
        # pending row: the items' values, then the record's conversion problems (str or None)
        # key -> [incremental value, content hash, pending index or None, part index, row in part]
        self.seen: dict[tuple, list] = {}
        self.superseded: dict[int, set[int]] = {}   # part index -> rows to drop
        self.present: set[str] = set()
        self.rows_written = 0
        self.max_inc = None
        self.duplicates = 0

    def run(self) -> ExtractResult:
        """Follow the cursor to the last page. Raises :class:`SourceError` (nothing is loaded) on a
        cursor seen before, on ``max_empty_pages`` empty pages in a row that still carry a cursor,
        and when page ``max_pages`` still has a next cursor."""
        settings = self.source.settings
        params, page_no, cursors, empty_run = dict(self.params), 1, set(), 0
        while True:
            body = self.source.fetch_page(self.client, params, page_no)
            for item in body["items"]:
                self._take(item)
            cursor = body.get("next_cursor")
            if cursor is None:
                break
            where = f"{self.resource.code}: page {page_no} of {settings.endpoint}"
            if cursor in cursors:
                raise SourceError(f"{where} returned a cursor already followed: the API is looping; nothing was loaded")
            empty_run = 0 if body["items"] else empty_run + 1
            if empty_run >= settings.max_empty_pages:
                raise SourceError(f"{where}: {empty_run} empty pages in a row that still carry a next_cursor "
                                  f"(max_empty_pages={settings.max_empty_pages}): the API is paging through "
                                  f"nothing; nothing was loaded. If the API really returns that many empty "
                                  f"pages, raise max_empty_pages in the catalog entry")
            if page_no >= settings.max_pages:
                raise SourceError(f"{where} still has a next_cursor, and max_pages={settings.max_pages} pages "
                                  f"have been read: nothing was loaded. If the source really is that large, "
                                  f"raise max_pages (or page_size) in the catalog entry")
            cursors.add(cursor)
            params = dict(self.params, cursor=cursor)
            page_no += 1
        self._flush()
        if self.duplicates:
            log.info("%s: %d records repeated across pages were de-duplicated", self.resource.code, self.duplicates)
        if self.rows_written:
            columns = [c for c in self.columns_all if c in self.present]
            missing = [c for c in self.columns_all if c not in self.present]
        else:  # no record to tell which items the API carries: assume all, as an empty table would
            columns, missing = list(self.columns_all), []
        parts = self._finalise(columns)
        rows = self.rows_written - sum(len(v) for v in self.superseded.values())
        return ExtractResult(parts=parts, rows=rows, columns=columns, missing_columns=missing,
                             max_incremental=self.max_inc, normalised=self.rules.normalised())

    def _take(self, item: dict) -> None:
        row, problems = [], []
        for name, spec, convert in zip(self.columns_all, self.items, self.converters):
            value = item.get(name)
            if name in item:
                self.present.add(name)
            if value is not None:
                value, trouble = typed_value(spec, convert, value)
                if trouble:
                    problems.append(trouble)
            row.append(value)
        row.append("; ".join(problems) or None)
        key = tuple(row[i] for i in self.key_idx)
        inc = row[self.inc_idx] if self.inc_idx is not None else None
        if not any(k is None for k in key):  # a keyless record is quarantined as such: never de-duplicated
            digest = hash(tuple(row))
            entry = self.seen.get(key)
            if entry is not None:
                self.duplicates += 1
                old_inc, old_digest = entry[0], entry[1]
                if old_digest == digest:
                    return
                if inc is not None and old_inc is not None and inc < old_inc:
                    return  # an older version of a record already kept
                if entry[2] is not None:
                    self.pending[entry[2]] = None
                else:
                    self.superseded.setdefault(entry[3], set()).add(entry[4])
            self.seen[key] = [inc, digest, len(self.pending), None, None]
        self.pending.append(row)
        if inc is not None and (self.max_inc is None or inc > self.max_inc):
            self.max_inc = inc
        if len(self.pending) >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        rows = [r for r in self.pending if r is not None]
        self.pending = []
        if not rows:
            return
        part_idx = len(self.writer.parts)
        for offset, row in enumerate(rows):
            entry = self.seen.get(tuple(row[i] for i in self.key_idx))
            if entry is not None:  # None: a keyless record
                entry[2], entry[3], entry[4] = None, part_idx, offset
        arrays = [pa.array([r[j] for r in rows], type=field.type) for j, field in enumerate(self.schema_all)]
        arrays.append(pa.array(range(self.rows_written, self.rows_written + len(rows)), pa.int64()))
        schema = self.schema_all.append(pa.field(ROW_ID, pa.int64()))
        self.writer.write(self.rules.apply(pa.Table.from_arrays(arrays, schema=schema)))
        self.rows_written += len(rows)

    def _finalise(self, columns: list[str]) -> list[str]:
        """Drop superseded rows and catalog items no record carried, renumbering ``_source_row``."""
        kept = columns + [CONVERSION_ERROR, ROW_ID]
        schema = arrow_schema(self.resource, columns).append(pa.field(CONVERSION_ERROR, pa.string()))
        schema = schema.append(pa.field(ROW_ID, pa.int64()))
        if not self.writer.parts:  # an empty extract still yields one (empty) part with the right columns
            self.writer.write(schema.empty_table())
            return self.writer.parts
        if not self.superseded and columns == self.columns_all:
            return self.writer.parts
        next_row = 0
        for part_idx, uri in enumerate(self.writer.parts):
            table = read_part(uri).select(kept)
            drop = self.superseded.get(part_idx)
            if drop:
                keep = pa.array([i not in drop for i in range(table.num_rows)])
                table = table.filter(keep)
            table = table.set_column(table.num_columns - 1, ROW_ID,
                                     pa.array(range(next_row, next_row + table.num_rows), pa.int64()))
            next_row += table.num_rows
            self._rewrite(uri, table)
        return self.writer.parts

    def _rewrite(self, uri: str, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        fs, path = self.writer.fs, uri[len(self.writer.prefix):].lstrip("/")
        pq.write_table(table, f"{self.writer.path}/{path}", filesystem=fs, compression="zstd")
