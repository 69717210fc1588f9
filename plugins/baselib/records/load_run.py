"""``ops.load_run``: one row per resource per run, updated as the run moves through its steps."""
from __future__ import annotations

import json

from psycopg2 import sql

from baselib.security import redaction
from baselib.warehouse import sqlfiles

UPDATABLE = {
    "mode", "status", "finished_at", "extract_seconds", "validate_seconds", "load_seconds",
    "watermark_from", "watermark_to", "max_source_updated_at", "rows_extracted", "rows_inserted",
    "rows_updated", "rows_unchanged", "rows_quarantined", "rows_deleted", "rows_warned",
    "blocking_checks", "error", "report_path", "cross_checks", "files_new", "files_unchanged", "files_rejected",
    "values_normalised",
}
JSON_COLUMNS = ("blocking_checks", "cross_checks", "values_normalised")
ERROR_CHARS = 4000   # longest error text kept on the run


def start(conn, **run) -> int:
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/load_run_start"), run)
        return cur.fetchone()[0]


def update(conn, load_id: int, **fields) -> None:
    """Set the given columns. Names are checked against a fixed list; values are parameters.
    An ``error`` text is stored redacted (:mod:`baselib.security.redaction`)."""
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValueError(f"not ops.load_run columns: {sorted(unknown)}")
    if fields.get("error") is not None:
        fields["error"] = redaction.redact(fields["error"])[:ERROR_CHARS]
    for column in JSON_COLUMNS:
        if fields.get(column) is not None:
            fields[column] = json.dumps(fields[column], ensure_ascii=False)
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in fields
    )
    with conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE ops.load_run SET {} WHERE load_id = %(load_id)s").format(assignments),
                    {**fields, "load_id": load_id})


def record_error(conn, load_id: int, step: str, exc: BaseException, status: str = "failed",
                 blocking_checks: list[dict] | None = None) -> None:
    """Close the run as ``status`` with ``exc`` as its error (``"<class>: <message>"``, redacted),
    and append it to ``error_history`` so a later successful retry, which clears ``error``, keeps
    the record of what happened. ``step``: extract, validate, load or record."""
    error = redaction.describe(exc)[:ERROR_CHARS]
    entry = {"step": step, "status": status, "error_class": type(exc).__name__, "error": error}
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ops.load_run SET status = %(status)s, error = %(error)s, blocking_checks = %(checks)s, "
            "finished_at = now(), error_history = coalesce(error_history, '[]'::jsonb) "
            "|| jsonb_build_array(%(entry)s::jsonb || jsonb_build_object('at', now())) "
            "WHERE load_id = %(load_id)s",
            {"status": status, "error": error, "load_id": load_id,
             "checks": json.dumps(blocking_checks, ensure_ascii=False) if blocking_checks is not None else None,
             "entry": json.dumps(entry, ensure_ascii=False)})


UNFINISHED = ("running", "validated", "loaded")   # statuses a step leaves before the run is done


def fail_unfinished(conn, *, step: str | None, error_class: str, error: str, load_id: int | None = None,
                    dag_id: str | None = None, run_id: str | None = None) -> list[int]:
    """Close as ``failed`` the load records still :data:`UNFINISHED` of a run whose task failed for
    good (Airflow's failure callback: a task killed by SIGKILL/OOM, a lost worker or a timeout never
    reached the step's own ``record_error``): ``load_id`` when given, else every record of
    ``dag_id`` + ``run_id``. ``error`` (stored redacted, at most :data:`ERROR_CHARS` characters) and
    ``error_class`` are appended to ``error_history`` like :func:`record_error` does; ``finished_at``
    is now. A record already ``failed``, ``blocked`` or ``success`` is left as it is. Returns the
    load ids closed. Raises ValueError when neither ``load_id`` nor both run keys are given."""
    if load_id is None and not (dag_id and run_id):
        raise ValueError("fail_unfinished needs load_id, or dag_id and run_id")
    error = redaction.redact(error or "")[:ERROR_CHARS]
    entry = {"step": step, "status": "failed", "error_class": error_class, "error": error}
    where = "load_id = %(load_id)s" if load_id is not None else "dag_id = %(dag_id)s AND run_id = %(run_id)s"
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ops.load_run SET status = 'failed', error = %(error)s, finished_at = now(), "
            "error_history = coalesce(error_history, '[]'::jsonb) "
            "|| jsonb_build_array(%(entry)s::jsonb || jsonb_build_object('at', now())) "
            f"WHERE {where} AND status = ANY(%(unfinished)s) RETURNING load_id",
            {"error": error, "entry": json.dumps(entry, ensure_ascii=False), "load_id": load_id,
             "dag_id": dag_id, "run_id": run_id, "unfinished": list(UNFINISHED)})
        return [row[0] for row in cur.fetchall()]


def get(conn, load_id: int) -> dict:
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM ops.load_run WHERE load_id = %s", (load_id,))
        names = [d.name for d in cur.description]
        row = cur.fetchone()
    if row is None:
        raise LookupError(f"no ops.load_run row with load_id {load_id}")
    return dict(zip(names, row))


def last_watermark(conn, resource_code: str):
    with conn.cursor() as cur:
        cur.execute("SELECT value FROM ops.watermark WHERE resource_code = %s", (resource_code,))
        row = cur.fetchone()
    return row[0] if row else None


def advance_watermark(conn, resource_code: str, column_name: str, value, load_id: int) -> None:
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/watermark_advance"),
                    {"resource_code": resource_code, "column_name": column_name, "value": value, "load_id": load_id})
