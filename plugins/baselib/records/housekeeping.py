"""Staging housekeeping: remove the staging folders nobody will read again.

A run stages its Parquet parts under ``storage.load_prefix(dag_id, load_id)`` =
``BASELIB_STAGING_URL/<dag_id>/load-<load_id>``. Its ``record`` step removes them when the run
succeeds; a failed or blocked run keeps them so that a retried or cleared task can still read them
and a person can look at what was extracted. :func:`sweep` removes, once they are older than the
retention period (``BASELIB_STAGING_RETENTION_DAYS``, default 7 days; the *cutoff* is now minus
the retention):

* the folders of runs whose ``ops.load_run.status`` is ``failed`` or ``blocked`` when
  ``finished_at`` (set when the failure was recorded) is before the cutoff. A ``failed`` run that
  failed less than :data:`RETRY_FLOOR` (1 hour) ago keeps its folder *whatever the retention*
  (even 0): ``pipeline._fail`` records ``failed`` on every try that fails, and Airflow retries the
  task (retry delays up to 30 minutes) with the same staging parts;
* a folder left by a ``success`` run (its record step could not remove it), by the same cutoff;
* the folders of *abandoned* runs (reason ``abandoned``): a run still ``running``, ``validated``
  or ``loaded`` whose last activity — the latest of its ``started_at``, its ``finished_at`` and
  the newest file in its folder — is before the cutoff *and* more than :data:`ABANDONED_AFTER`
  (2 days, longer than any real run with its retries lasts) ago. Such a row is left by a task that
  died without recording its failure (SIGKILL, the OOM killer, a lost Celery worker, a task
  timeout, the warehouse down while the failure was being recorded, a ``record`` step failing for
  good): its DAG run has failed and will not retry. The run's status is left as it is (a
  ``loaded`` run's rows are in the warehouse);
* orphan ``load-<id>`` folders with no ``ops.load_run`` row, when the newest file in them was
  modified before the cutoff.

A task retried or cleared later opens its run again (``queries/load_run_start`` sets it
``running`` with a new ``started_at``), which makes the run young again. Every folder removed is
recorded in ``ops.staging_removal`` (include/sql/ddl/090_housekeeping.sql) and, for a run, in
``ops.load_run.staging_removed_at``. A folder that cannot be listed or deleted is logged, recorded
nothing for, and skipped; the sweep carries on with the others and raises
:class:`SweepIncomplete` at the end, naming every such folder. Works for any pyarrow filesystem
URI (``file://``, ``s3://`` with the ``AWS_*`` variables).
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
REMOVABLE = ("failed", "blocked", "success")   # run statuses whose staging folder may go after the retention
NON_TERMINAL = ("running", "validated", "loaded")  # their folder goes only when the run is abandoned
RETRY_FLOOR = dt.timedelta(hours=1)            # a failed run younger than this may be retried: kept always
ABANDONED_AFTER = dt.timedelta(days=2)         # a non-terminal run idle this long (and past the retention) is dead
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
    reason: str | None = None          # failed, blocked, success, abandoned or orphan when removed; None when kept
    why_kept: str | None = None        # e.g. "running", "too recent"
    error: str | None = None           # why it could not be listed or deleted (redacted); it then stays


class SweepIncomplete(OSError):
    """Raised by :func:`sweep` after the sweep, when some folders could not be listed or deleted.
    ``sweep``: the :class:`Sweep` (removed, kept and ``failed`` folders)."""

    def __init__(self, sweep: "Sweep"):
        self.sweep = sweep
        names = "; ".join(f"{f.uri} ({f.error})" for f in sweep.failed)
        super().__init__(f"staging housekeeping could not remove {len(sweep.failed)} folder(s): {names}")


@dataclass
class Sweep:
    """What :func:`sweep` found: ``removed``, ``kept`` and ``failed`` (could not be listed or
    deleted; still there) folders, in listing order."""

    dry_run: bool
    cutoff: dt.datetime
    removed: list[Folder] = field(default_factory=list)
    kept: list[Folder] = field(default_factory=list)
    failed: list[Folder] = field(default_factory=list)

    @property
    def bytes_removed(self) -> int:
        return sum(f.bytes for f in self.removed)

    def as_dict(self) -> dict:
        """Small JSON-able summary: ``{"dry_run", "cutoff", "folders_removed", "bytes_removed",
        "files_removed", "by_reason": {reason: folders}, "folders_kept", "folders_failed",
        "removed": [uri, ...], "failed": [uri, ...]}``."""
        by_reason: dict[str, int] = {}
        for f in self.removed:
            by_reason[f.reason] = by_reason.get(f.reason, 0) + 1
        return {"dry_run": self.dry_run, "cutoff": self.cutoff.isoformat(), "folders_removed": len(self.removed),
                "bytes_removed": self.bytes_removed, "files_removed": sum(f.files for f in self.removed),
                "by_reason": by_reason, "folders_kept": len(self.kept), "folders_failed": len(self.failed),
                "removed": [f.uri for f in self.removed], "failed": [f.uri for f in self.failed]}


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _children(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    return fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))


def _folders(root: str) -> list[Folder]:
    """Every ``<root>/<dag_id>/load-<id>`` folder with its file count, bytes and newest mtime; a
    folder whose content cannot be listed comes with ``error`` set. Raises OSError when the root
    or a DAG folder cannot be listed."""
    fs, root_path = pafs.FileSystem.from_uri(root)
    found = []
    for dag in _children(fs, root_path):
        if dag.type != pafs.FileType.Directory:
            continue
        for child in _children(fs, dag.path):
            match = FOLDER.fullmatch(child.base_name)
            if child.type != pafs.FileType.Directory or not match:
                continue
            try:
                files = [i for i in fs.get_file_info(pafs.FileSelector(child.path, recursive=True))
                         if i.type == pafs.FileType.File]
            except OSError as exc:
                found.append(Folder(uri=f"{root}/{dag.base_name}/{child.base_name}", dag_id=dag.base_name,
                                    load_id=int(match.group(1)), files=0, bytes=0, newest_file=None, status=None,
                                    error=_describe(exc)))
                continue
            stamps = [_utc(i.mtime) for i in files if i.mtime is not None] or \
                     ([_utc(child.mtime)] if child.mtime is not None else [])
            found.append(Folder(uri=f"{root}/{dag.base_name}/{child.base_name}", dag_id=dag.base_name,
                                load_id=int(match.group(1)), files=len(files), bytes=sum(i.size or 0 for i in files),
                                newest_file=max(stamps) if stamps else None, status=None))
    return found


def _describe(exc: BaseException) -> str:
    from baselib.security import redaction

    return redaction.describe(exc)[:500]


def _run(conn, load_id: int) -> tuple[str, dt.datetime | None, dt.datetime] | None:
    """The run's (status, finished_at, latest of started_at and finished_at), its row locked until
    the caller commits: a task retried or cleared meanwhile (``queries/load_run_start`` sets it
    ``running``) waits for the removal to commit, then stages its parts again."""
    with conn.cursor() as cur:
        cur.execute("SELECT status, finished_at, greatest(started_at, finished_at) FROM ops.load_run "
                    "WHERE load_id = %s FOR UPDATE", (load_id,))
        row = cur.fetchone()
    return (row[0], _utc(row[1]), _utc(row[2])) if row else None


def _decide(folder: Folder, run: tuple[str, dt.datetime | None, dt.datetime] | None, now: dt.datetime,
            cutoff: dt.datetime) -> None:
    if run is None:
        folder.status = None
        # no run row (a run's row is committed before it stages anything): old files, or none at all
        if folder.newest_file is None or folder.newest_file < cutoff:
            folder.reason = "orphan"
        else:
            folder.why_kept = "orphan, too recent"
        return
    status, finished, touched = run
    folder.status = status
    if status in NON_TERMINAL:
        last = max(t for t in (touched, folder.newest_file) if t is not None)
        if last < cutoff and last < now - ABANDONED_AFTER:
            folder.reason = "abandoned"
        else:
            folder.why_kept = f"run {status}: its DAG run may still retry"
    elif status not in REMOVABLE:  # a status this module does not know: leave it alone
        folder.why_kept = f"run {status}: unknown status"
    elif status == "failed" and (finished is None or finished >= now - RETRY_FLOOR):
        folder.why_kept = "run failed less than 1 hour ago: its automatic retry may read it"
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
    """Remove the staging folders of failed, blocked, abandoned (and leftover successful) runs and
    orphan folders older than the retention (see the module docstring for the rules and floors).

    ``conn``: a warehouse connection (psycopg2) with the shared DDL applied; each removal is
    recorded and committed right after its folder is deleted. ``retention``: days >= 0 (default
    :func:`retention_days`). ``dry_run``: decide and log, delete and record nothing. ``now``: the
    reference instant (aware; default the current time). ``root``: the staging root URI (default
    ``BASELIB_STAGING_URL``). Returns a :class:`Sweep`. A folder that cannot be listed or deleted
    is logged (ERROR), recorded nothing for and skipped; after the other folders are done, raises
    :class:`SweepIncomplete` (an OSError) naming them. Raises OSError when the root (or a DAG
    folder) cannot be listed, and psycopg2 errors from the warehouse (the folders removed before
    stay recorded)."""
    days = retention_days() if retention is None else float(retention)
    if days < 0 or days != days:
        raise ValueError(f"retention must be >= 0 days, got {retention!r}")
    now = _utc(now) or dt.datetime.now(dt.timezone.utc)
    cutoff = now - dt.timedelta(days=days)
    root = (root or staging_url()).rstrip("/")
    result = Sweep(dry_run=dry_run, cutoff=cutoff)
    for folder in _folders(root):
        if folder.error is None:
            try:
                _decide(folder, _run(conn, folder.load_id), now, cutoff)
                if folder.reason is not None and not dry_run:
                    fs, path = pafs.FileSystem.from_uri(folder.uri)
                    try:
                        fs.delete_dir(path)
                    except OSError as exc:
                        folder.error = _describe(exc)
                    else:
                        _record(conn, folder)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        if folder.error is not None:
            result.failed.append(folder)
            log.error("could not remove %s (%s run %s): %s; it stays, nothing recorded", folder.uri,
                      folder.reason or "unlisted", folder.load_id, folder.error)
            continue
        if folder.reason is None:
            result.kept.append(folder)
            log.info("kept %s (%s)", folder.uri, folder.why_kept)
            continue
        result.removed.append(folder)
        log.info("%s %s (%s run %s): %d file(s), %d bytes, newest %s", "would remove" if dry_run else "removed",
                 folder.uri, folder.reason, folder.load_id, folder.files, folder.bytes,
                 folder.newest_file.isoformat() if folder.newest_file else "unknown")
    summary = result.as_dict()
    log.info("staging housekeeping%s under %s: %d folder(s) %s (%d file(s), %d bytes; %s), %d kept%s; retention %g "
             "day(s), cutoff %s", " (dry run)" if dry_run else "", root, summary["folders_removed"],
             "to remove" if dry_run else "removed", summary["files_removed"], summary["bytes_removed"],
             ", ".join(f"{k} {v}" for k, v in sorted(summary["by_reason"].items())) or "none",
             summary["folders_kept"], f", {len(result.failed)} could not be removed" if result.failed else "",
             days, cutoff.isoformat())
    if result.failed:
        raise SweepIncomplete(result)
    return result


def sweep_warehouse(dry_run: bool = False, retention_days: float | None = None) -> dict:
    """:func:`sweep` on the warehouse of connection ``warehouse`` (the shared DDL applied first, so
    ``ops.staging_removal`` exists on a fresh warehouse) over ``BASELIB_STAGING_URL``; returns
    :meth:`Sweep.as_dict`. Used by the ``staging_housekeeping`` DAG and ``baselib.cli housekeeping``.
    Raises OSError when the staging root cannot be listed, and :class:`SweepIncomplete` (after
    sweeping the rest) when some folders could not be listed or deleted."""
    from baselib.warehouse import connections, schema

    conn = connections.connect("warehouse")
    try:
        schema.ensure(conn, [])
        result = sweep(conn, retention=retention_days, dry_run=dry_run)
    finally:
        conn.close()
    return result.as_dict()
