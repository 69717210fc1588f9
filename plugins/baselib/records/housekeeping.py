"""Staging housekeeping: remove the staging folders nobody will read again.

A run stages its Parquet parts under ``storage.load_prefix(dag_id, load_id)`` =
``BASELIB_STAGING_URL/<dag_id>/load-<load_id>``. Its ``record`` step removes them when the run
succeeds; a failed or blocked run keeps them so that a retried or cleared task can still read them
and a person can look at what was extracted. :func:`sweep` removes, once they are older than the
retention period (``BASELIB_STAGING_RETENTION_DAYS``, default 7 days):

* the folders of runs whose ``ops.load_run.status`` is ``failed`` or ``blocked`` (terminal for
  the run: a retried or cleared task sets the status back to ``running`` or moves it on), when
  ``finished_at`` (set when the failure was recorded) is older than the retention;
* a folder left by a ``success`` run (its record step could not remove it), by the same rule;
* orphan ``load-<id>`` folders with no ``ops.load_run`` row, when the newest file in them was
  modified longer than the retention ago.

Folders of runs still ``running``, ``validated`` or ``loaded`` are never touched, however old:
their DAG run may still retry. Every folder removed is recorded in ``ops.staging_removal``
(include/sql/ddl/090_housekeeping.sql) and, for a run, in ``ops.load_run.staging_removed_at``.
Works for any pyarrow filesystem URI (``file://``, ``s3://`` with the ``AWS_*`` variables).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
from dataclasses import dataclass, field

import pyarrow.fs as pafs

from baselib.settings import staging_url

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 7.0
REMOVABLE = ("failed", "blocked", "success")   # run statuses whose staging folder may go
FOLDER = re.compile(r"load-(\d+)")


def retention_days() -> float:
    """``BASELIB_STAGING_RETENTION_DAYS`` (days, a number >= 0; default 7). Raises ValueError
    for anything else."""
    raw = os.environ.get("BASELIB_STAGING_RETENTION_DAYS", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_RETENTION_DAYS
    except ValueError:
        raise ValueError(f"BASELIB_STAGING_RETENTION_DAYS must be a number of days, got {raw!r}") from None
    if value < 0 or value != value:
        raise ValueError(f"BASELIB_STAGING_RETENTION_DAYS must be >= 0, got {raw!r}")
    return value


@dataclass
class Folder:
    """One ``load-<id>`` staging folder and what housekeeping decided about it."""

    uri: str
    dag_id: str
    load_id: int
    files: int
    bytes: int
    newest_file: dt.datetime | None    # newest modification time in the folder (UTC)
    status: str | None                 # the run's ops.load_run.status; None: no row (orphan)
    reason: str | None = None          # failed, blocked, success or orphan when removed; None when kept
    why_kept: str | None = None        # e.g. "running", "too recent"


@dataclass
class Sweep:
    """What :func:`sweep` found: ``removed`` and ``kept`` folders, in listing order."""

    dry_run: bool
    cutoff: dt.datetime
    removed: list[Folder] = field(default_factory=list)
    kept: list[Folder] = field(default_factory=list)

    @property
    def bytes_removed(self) -> int:
        return sum(f.bytes for f in self.removed)

    def as_dict(self) -> dict:
        """Small JSON-able summary: ``{"dry_run", "cutoff", "folders_removed", "bytes_removed",
        "files_removed", "by_reason": {reason: folders}, "folders_kept", "removed": [uri, ...]}``."""
        by_reason: dict[str, int] = {}
        for f in self.removed:
            by_reason[f.reason] = by_reason.get(f.reason, 0) + 1
        return {"dry_run": self.dry_run, "cutoff": self.cutoff.isoformat(), "folders_removed": len(self.removed),
                "bytes_removed": self.bytes_removed, "files_removed": sum(f.files for f in self.removed),
                "by_reason": by_reason, "folders_kept": len(self.kept), "removed": [f.uri for f in self.removed]}


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _children(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    return fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))


def _folders(root: str) -> list[Folder]:
    """Every ``<root>/<dag_id>/load-<id>`` folder with its file count, bytes and newest mtime."""
    fs, root_path = pafs.FileSystem.from_uri(root)
    found = []
    for dag in _children(fs, root_path):
        if dag.type != pafs.FileType.Directory:
            continue
        for child in _children(fs, dag.path):
            match = FOLDER.fullmatch(child.base_name)
            if child.type != pafs.FileType.Directory or not match:
                continue
            files = [i for i in fs.get_file_info(pafs.FileSelector(child.path, recursive=True))
                     if i.type == pafs.FileType.File]
            stamps = [_utc(i.mtime) for i in files if i.mtime is not None] or \
                     ([_utc(child.mtime)] if child.mtime is not None else [])
            found.append(Folder(uri=f"{root}/{dag.base_name}/{child.base_name}", dag_id=dag.base_name,
                                load_id=int(match.group(1)), files=len(files), bytes=sum(i.size or 0 for i in files),
                                newest_file=max(stamps) if stamps else None, status=None))
    return found


def _run(conn, load_id: int) -> tuple[str, dt.datetime | None] | None:
    """The run's (status, finished_at), its row locked until the caller commits: a task retried
    or cleared meanwhile (``queries/load_run_start`` sets it ``running``) waits for the removal
    to commit, then stages its parts again."""
    with conn.cursor() as cur:
        cur.execute("SELECT status, finished_at FROM ops.load_run WHERE load_id = %s FOR UPDATE", (load_id,))
        row = cur.fetchone()
    return (row[0], _utc(row[1])) if row else None


def _decide(folder: Folder, run: tuple[str, dt.datetime | None] | None, cutoff: dt.datetime) -> None:
    if run is None:
        folder.status = None
        if folder.newest_file is not None and folder.newest_file < cutoff:
            folder.reason = "orphan"
        else:
            folder.why_kept = "orphan, too recent"
        return
    status, finished = run
    folder.status = status
    if status not in REMOVABLE:
        folder.why_kept = f"run {status}: its DAG run may still retry"
    elif finished is None or finished >= cutoff:
        folder.why_kept = f"run {status}, finished after the cutoff"
    else:
        folder.reason = status


def _record(conn, folder: Folder) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO ops.staging_removal (load_id, dag_id, uri, reason, files, bytes, newest_file) "
            "VALUES (%(load_id)s, %(dag_id)s, %(uri)s, %(reason)s, %(files)s, %(bytes)s, %(newest)s)",
            {"load_id": folder.load_id if folder.status is not None else None, "dag_id": folder.dag_id,
             "uri": folder.uri, "reason": folder.reason, "files": folder.files, "bytes": folder.bytes,
             "newest": folder.newest_file})
        if folder.status is not None:
            cur.execute("UPDATE ops.load_run SET staging_removed_at = now() WHERE load_id = %s", (folder.load_id,))


def sweep(conn, *, retention: float | None = None, dry_run: bool = False, now: dt.datetime | None = None,
          root: str | None = None) -> Sweep:
    """Remove the staging folders of failed, blocked (and leftover successful) runs and orphan
    folders older than the retention (see the module docstring).

    ``conn``: a warehouse connection (psycopg2) with the shared DDL applied; each removal is
    recorded and committed right after its folder is deleted. ``retention``: days (default
    :func:`retention_days`). ``dry_run``: decide and log, delete and record nothing. ``now``: the
    reference instant (aware; default the current time). ``root``: the staging root URI (default
    ``BASELIB_STAGING_URL``). Returns a :class:`Sweep`. Raises the filesystem's error (OSError)
    when the root cannot be listed or a folder cannot be deleted (the folders removed before it
    stay recorded), and psycopg2 errors from the warehouse."""
    days = retention_days() if retention is None else float(retention)
    now = _utc(now) or dt.datetime.now(dt.timezone.utc)
    cutoff = now - dt.timedelta(days=days)
    root = (root or staging_url()).rstrip("/")
    result = Sweep(dry_run=dry_run, cutoff=cutoff)
    for folder in _folders(root):
        try:
            _decide(folder, _run(conn, folder.load_id), cutoff)
            if folder.reason is not None and not dry_run:
                fs, path = pafs.FileSystem.from_uri(folder.uri)
                fs.delete_dir(path)
                _record(conn, folder)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        if folder.reason is None:
            result.kept.append(folder)
            log.info("kept %s (%s)", folder.uri, folder.why_kept)
            continue
        result.removed.append(folder)
        log.info("%s %s (%s run %s): %d file(s), %d bytes, newest %s", "would remove" if dry_run else "removed",
                 folder.uri, folder.reason, folder.load_id, folder.files, folder.bytes,
                 folder.newest_file.isoformat() if folder.newest_file else "unknown")
    summary = result.as_dict()
    log.info("staging housekeeping%s under %s: %d folder(s) %s (%d file(s), %d bytes; %s), %d kept; retention %g "
             "day(s), cutoff %s", " (dry run)" if dry_run else "", root, summary["folders_removed"],
             "to remove" if dry_run else "removed", summary["files_removed"], summary["bytes_removed"],
             ", ".join(f"{k} {v}" for k, v in sorted(summary["by_reason"].items())) or "none",
             summary["folders_kept"], days, cutoff.isoformat())
    return result


def sweep_warehouse(dry_run: bool = False, retention_days: float | None = None) -> dict:
    """:func:`sweep` on the warehouse of connection ``warehouse`` (the shared DDL applied first, so
    ``ops.staging_removal`` exists on a fresh warehouse) over ``BASELIB_STAGING_URL``; returns
    :meth:`Sweep.as_dict`. Used by the ``staging_housekeeping`` DAG and ``baselib.cli housekeeping``.
    Raises OSError when the staging root cannot be listed or a folder cannot be deleted."""
    from baselib.warehouse import connections, schema

    conn = connections.connect("warehouse")
    try:
        schema.ensure(conn, [])
        result = sweep(conn, retention=retention_days, dry_run=dry_run)
    finally:
        conn.close()
    return result.as_dict()
