"""The daily DAG ``sharing_reconcile``: roles, applications and grants brought in line, then the
measured use collected.

Tasks, one after the other (each commits its own work, logs at INFO what it changed and returns
only counts):

1. ``apply_consumers``: the shared DDL, then include/sharing/consumers.yaml (or
   ``BASELIB_CONSUMERS_FILE``) as LOGIN roles (:func:`baselib.sharing.consumers.apply_roles`).
   A password is read from the environment variable the consumer names
   (``BASELIB_CONSUMER_<CODE>_PASSWORD``), else from the Airflow Variable of that name (through
   the Task SDK, so any secrets backend serves it).
2. ``expire_applications``: approved applications whose period is over become ``expired``
   (:func:`baselib.sharing.applications.expire`).
3. ``reconcile_grants``: every consumer's views and privileges derived again from the active
   applications; anything nothing justifies (a hand-made grant, an expired or revoked view) is
   removed; each change is a row of ``sharing.grant_change`` with this run's id
   (:func:`baselib.sharing.grants.reconcile`).
4. ``collect_usage``: the consumers' measured use since the last collection into
   ``evaluation.sharing_usage`` (:func:`baselib.sharing.usage.collect`); when the server cannot
   measure it (no ``pg_stat_statements``) the reason is logged as a warning and the task succeeds.
   The use is filed under the day it measures (:func:`usage_day`): a scheduled run (00:00) under
   the Asia/Shanghai day that just ended, the day before its logical date; a manual run (a person,
   ``airflow dags test``) under its logical date's local day, the use so far of that day.

Backfilled runs (run type ``backfill``), and any run whose logical date is not today (local
time: an old run cleared and run again, a manual run for a past date): expiry and the reconcile act on the current time, as they must (access
is judged by the wall clock), but ``collect_usage`` skips with a log line: the counters hold the
use since the last collection, not that of a past day, so filing them under it would be false.
Nothing is lost: the next current run collects it.

Runs at 00:00 Asia/Shanghai, when periods turn: access ends at 00:00 on the day after an
application's period (the views refuse reads from then on by themselves) and a renewal's period
starts at 00:00 too, so the run that drops the ended view builds the renewal's view at once: a
consumer whose renewal starts the day after its old period ends waits only as long as the run takes.

Module level imports only the Task SDK; the engine (psycopg2, the sharing modules) loads inside
the tasks, so parsing stays fast.
"""
from __future__ import annotations

import datetime as dt
import logging
import os

from airflow.sdk import dag, task

from baselib.orchestration.schedules import platform_dag_args

DAG_ID = "sharing_reconcile"
DESCRIPTION = ("Sharing control: consumer roles, expired applications, grants reconciled with the approved "
               "applications, measured use")
SCHEDULE = "0 0 * * *"  # midnight every day, Asia/Shanghai

log = logging.getLogger(__name__)


def consumer_password(variable: str) -> str | None:
    """The password held in ``variable``: the environment variable of that name, else the Airflow
    Variable of that name (Task SDK: call it inside a task), else None (the consumer then keeps
    its role but cannot log in with a password). Errors of the Variable lookup other than "not
    set" propagate: a backend that cannot answer must fail the task, not remove a password."""
    value = os.environ.get(variable)
    if value:
        return value
    from airflow.sdk import Variable

    return Variable.get(variable, default=None) or None


def _connect():
    from baselib.warehouse import connections

    return connections.connect("warehouse")


def _fail_on_sharing_error(exc: Exception):
    """A configuration problem (a malformed consumers file, …): retrying will not help."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(str(exc))


def _log_changes(what: str, changes: list) -> dict:
    for change in changes:
        log.info("%s: %s %s %s%s (%s)", what, change.action, change.role_name, change.object,
                 f" [{change.detail}]" if change.detail else "", change.reason)
    log.info("%s: %d change(s)", what, len(changes))
    return {"changes": len(changes)}


def apply_consumers(run_id: str) -> dict:
    """Task body of ``apply_consumers``: returns ``{"consumers": n, "changes": m}``."""
    from baselib.errors import SharingError
    from baselib.sharing import consumers
    from baselib.warehouse import schema

    conn = _connect()
    try:
        schema.ensure(conn, [])  # shared DDL: on a fresh warehouse the sharing tables exist before any load
        try:
            declared = consumers.load()
            changes = consumers.apply_roles(conn, declared, password_lookup=consumer_password, run_id=run_id)
        except SharingError as exc:
            raise _fail_on_sharing_error(exc) from None
    finally:
        conn.close()
    log.info("consumers declared: %s", ", ".join(c.code for c in declared) or "none")
    return {"consumers": len(declared), **_log_changes("consumers", changes)}


def expire_applications() -> dict:
    """Task body of ``expire_applications``: returns ``{"expired": n}``."""
    from baselib.sharing import applications

    conn = _connect()
    try:
        expired = applications.expire(conn)
    finally:
        conn.close()
    log.info("applications expired (period over): %s", ", ".join(map(str, expired)) or "none")
    return {"expired": len(expired)}


def reconcile_grants(run_id: str) -> dict:
    """Task body of ``reconcile_grants``: returns ``{"changes": n}``."""
    from baselib.errors import SharingError
    from baselib.sharing import grants

    conn = _connect()
    try:
        try:
            changes = grants.reconcile(conn, run_id=run_id)
        except SharingError as exc:
            raise _fail_on_sharing_error(exc) from None
    finally:
        conn.close()
    return _log_changes("grants", changes)


def usage_day(run_type: str, logical_date: dt.datetime | None, now: dt.datetime) -> dt.date | None:
    """The Asia/Shanghai day a run's collection is filed under, or None when it must not collect.

    ``run_type``: the DAG run's type (``scheduled``, ``manual``, ``backfill``, ``asset_triggered``);
    ``logical_date``: its logical date (timezone-aware; None for a manual run without one);
    ``now``: the current instant. A scheduled run fires at 00:00 on day D (its logical date, with
    the CronTriggerTimetable) and measures D-1, the day that ended; any other run measures the
    local day of its logical date (or of ``now``). None for a backfill, and for a run whose
    logical date's local day is not ``now``'s (an old run cleared and run again, a manual run for
    a past date): the counters hold the use since the last collection, not that of its day."""
    from baselib.sharing import policy

    calendar = policy.load().calendar
    today = calendar.local_date(now)
    if run_type == "backfill":
        return None
    if logical_date is None:
        return today
    if calendar.local_date(logical_date) != today:
        return None
    return today - dt.timedelta(days=1) if run_type == "scheduled" else today


def collect_usage(run_id: str, usage_date: dt.date | None = None, *, skip_reason: str | None = None) -> dict:
    """Task body of ``collect_usage``: returns ``{"usage_rows": n}``, ``{"unavailable": reason}``
    (logged as a warning; the task still succeeds) when the server cannot measure use, or
    ``{"skipped": skip_reason}`` (logged; nothing read or written) when ``skip_reason`` is given.
    ``usage_date``: the day the use is filed under (:func:`usage_day`; None: today's local date)."""
    if skip_reason is not None:
        log.info("measured use not collected by this run: %s", skip_reason)
        return {"skipped": skip_reason}
    from baselib.sharing import usage

    conn = _connect()
    try:
        reason = usage.unavailable_reason(conn)
        if reason is not None:
            log.warning("measured use not collected: %s", reason)
            return {"unavailable": reason}
        rows = usage.collect(conn, run_id=run_id, usage_date=usage_date)
    finally:
        conn.close()
    for row in rows:
        log.info("usage: %s", row)
    log.info("usage: %d row(s) written to evaluation.sharing_usage", len(rows))
    return {"usage_rows": len(rows)}


def build_dag():
    """The ``sharing_reconcile`` DAG (see the module docstring)."""

    @dag(**platform_dag_args(
        DAG_ID, doc_md=__doc__, cron=SCHEDULE, concern="sharing",
        description=DESCRIPTION))
    def sharing_reconcile():
        @task(task_id="apply_consumers")
        def apply_consumers_task(**context) -> dict:
            return apply_consumers(context["run_id"])

        @task(task_id="expire_applications")
        def expire_applications_task() -> dict:
            return expire_applications()

        @task(task_id="reconcile_grants")
        def reconcile_grants_task(**context) -> dict:
            return reconcile_grants(context["run_id"])

        @task(task_id="collect_usage")
        def collect_usage_task(**context) -> dict:
            dag_run = context["dag_run"]
            run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
            logical_date = context.get("logical_date")
            day = usage_day(run_type, logical_date, dt.datetime.now(dt.timezone.utc))
            if day is None:
                return collect_usage(context["run_id"], skip_reason=(
                    f"a {run_type} run for {logical_date}: the counters hold the use since the last "
                    f"collection, not that day's; the next current run collects it"))
            log.info("usage filed under %s (a %s run)", day, run_type)
            return collect_usage(context["run_id"], usage_date=day)

        apply_consumers_task() >> expire_applications_task() >> reconcile_grants_task() >> collect_usage_task()

    return sharing_reconcile()
