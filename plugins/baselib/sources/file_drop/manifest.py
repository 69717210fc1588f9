"""``ops.file_delivery``: the manifest that makes every delivered file processed exactly once.

A delivery is identified by (resource, path, content hash). ``loaded`` is final: the same bytes
dropped again are skipped. ``rejected`` files were moved away; the same bytes dropped again are
rejected again. ``pending`` (this run is processing it) and ``failed`` (its run failed or was
blocked) are retried by the next run. Writes are committed by the caller.
"""
from __future__ import annotations

from dataclasses import dataclass

from baselib.warehouse import sqlfiles


@dataclass(frozen=True)
class Known:
    delivery_id: int
    status: str
    reason: str | None


def lookup(conn, resource_code: str, path: str, content_sha256: str) -> Known | None:
    with conn.cursor() as cur:
        cur.execute("SELECT delivery_id, status, reason FROM ops.file_delivery "
                    "WHERE resource_code = %s AND path = %s AND content_sha256 = %s",
                    (resource_code, path, content_sha256))
        row = cur.fetchone()
    return Known(*row) if row else None


def register(conn, *, resource_code: str, load_id: int, path: str, size_bytes: int, content_sha256: str,
             modified_at, format: str | None, encoding: str | None, status: str, reason: str | None = None,
             rejected_path: str | None = None, ignored_columns: list[str] | None = None,
             ignored_rows: list[str] | None = None, rows_read: int | None = None) -> int:
    """Insert the delivery, or record another attempt at a known one; returns its id.
    ``ignored_columns`` / ``ignored_rows``: what of the file is not loaded (headers mapping to no
    item, titles and footnotes), so no filled cell goes unaccounted."""
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/file_delivery_register"), {
            "resource_code": resource_code, "load_id": load_id, "path": path, "size_bytes": size_bytes,
            "content_sha256": content_sha256, "modified_at": modified_at, "format": format,
            "encoding": encoding, "status": status, "reason": reason, "rejected_path": rejected_path,
            "ignored_columns": ignored_columns, "ignored_rows": ignored_rows, "rows_read": rows_read,
        })
        return cur.fetchone()[0]


def set_superseded(conn, delivery_id: int, rows_superseded: int) -> None:
    """Rows of the delivery a later file of the same run replaced (0 included: the row-count
    CHECK needs a number, not NULL)."""
    with conn.cursor() as cur:
        cur.execute("UPDATE ops.file_delivery SET rows_superseded = %s WHERE delivery_id = %s",
                    (rows_superseded, delivery_id))


def mark_loaded(conn, load_id: int, merged: dict[int, dict[str, int]], quarantined: dict[int, int]) -> int:
    """Close this load's deliveries with their row counts (in the load's transaction)."""
    with conn.cursor() as cur:
        # 'failed' too: a load task that failed once and succeeded on its retry
        cur.execute("SELECT delivery_id FROM ops.file_delivery WHERE load_id = %s AND status IN ('pending', 'failed')",
                    (load_id,))
        ids = [r[0] for r in cur.fetchall()]
        for delivery_id in ids:
            counts = merged.get(delivery_id, {})
            cur.execute(sqlfiles.text("queries/file_delivery_loaded"), {
                "delivery_id": delivery_id, "rows_inserted": counts.get("I", 0),
                "rows_updated": counts.get("U", 0), "rows_unchanged": counts.get("N", 0),
                "rows_quarantined": quarantined.get(delivery_id, 0),
            })
    return len(ids)


def mark_rejected(conn, delivery_id: int, reason: str, rows_quarantined: int, rejected_folder: str) -> str:
    """A readable delivery sent back as a whole (too many of its rows failed); returns its path.
    ``rejected_folder``: where the file will be moved (its name is appended)."""
    with conn.cursor() as cur:
        cur.execute("UPDATE ops.file_delivery SET status = 'rejected', reason = %s, rows_quarantined = %s, "
                    "rejected_path = %s || '/' || regexp_replace(path, '^.*/', ''), processed_at = now() "
                    "WHERE delivery_id = %s RETURNING path",
                    (reason, rows_quarantined, rejected_folder, delivery_id))
        return cur.fetchone()[0]


def mark_failed(conn, load_id: int, reason: str) -> None:
    """The run failed or was blocked: its pending deliveries are retried by the next run."""
    with conn.cursor() as cur:
        cur.execute("UPDATE ops.file_delivery SET status = 'failed', reason = %s, processed_at = now() "
                    "WHERE load_id = %s AND status = 'pending'", (reason[:4000], load_id))


def latest_delivery(conn, resource_code: str):
    """When the provider last delivered a file that loaded (its modification time in the landing
    store): the timeliness of a file drop, for the evaluation's sync metrics."""
    with conn.cursor() as cur:
        cur.execute("SELECT max(coalesce(modified_at, first_seen_at)) FROM ops.file_delivery "
                    "WHERE resource_code = %s AND status = 'loaded'", (resource_code,))
        return cur.fetchone()[0]
