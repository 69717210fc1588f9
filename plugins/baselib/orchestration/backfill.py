"""``python -m baselib.cli backfill``: ``airflow backfill create`` with dates read in Asia/Shanghai.

``airflow backfill create --from-date D1 --to-date D2`` reads plain dates as UTC midnights and
plans the runs whose *logical date* lies in ``[D1, D2]`` (both inclusive). The platform's DAGs
are scheduled in Asia/Shanghai (UTC+8): a daily catalog DAG's logical date (its data interval's
start) is local midnight, ``D-1 16:00 UTC``, so ``2026-10-01..2026-10-07`` plans the data days
2026-10-02..2026-10-07 — six runs, the first day missed.

This wrapper takes the *local data days* instead:

* ``--from``/``--to`` as a date (``2026-10-01``) mean that data day in Asia/Shanghai — the day the
  data covers, i.e. the run's data interval start (its logical date); ``--to`` includes its whole
  day. A date-time without an offset (``2026-10-01T08:00``) is read in Asia/Shanghai; one with an
  offset (``…+00:00``, ``…Z``) is taken as given. Both bounds are inclusive.
* It passes Airflow the exact instants (``--from-date 2026-10-01T00:00:00+08:00 --to-date
  2026-10-07T23:59:59.999999+08:00``), running the ``airflow`` beside ``sys.executable`` in this
  process's environment, and prints each command and the planned data days in local time.
* A backfill of a paused DAG is created but never runs (the scheduler skips paused DAGs,
  silently). The wrapper refuses a paused DAG unless ``--unpause`` is given (it then unpauses it
  and says so); with ``--dry-run`` it only warns.

Every Airflow command it runs reads the metadata database directly (``airflow dags details``,
``airflow backfill create``, ``airflow dags unpause``): no api-server is needed, but the DAG must
have been parsed (serialized) by a dag-processor or ``airflow dags reserialize``.

Errors (a bad date, ``--from`` after ``--to``, an unknown DAG, Airflow refusing the backfill) end
the command with a one-line message on stderr and exit status 1 (2 for a bad argument), no
traceback.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from baselib.orchestration.schedules import TIMEZONE

LOCAL_TZ = ZoneInfo(TIMEZONE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# an exception line at the end of a traceback: "airflow.exceptions.DagNotFound: Could not find …"
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)+[A-Z]\w*: .+|^[A-Z]\w*(?:Error|Exception): .+")


class BackfillError(Exception):
    """A backfill the wrapper will not (or Airflow did not) create; the message says why.
    ``exit_code``: 2 for a bad argument, 1 otherwise."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Window:
    """The instants Airflow gets: ``start`` and ``end`` are aware datetimes, both inclusive bounds
    of the runs' logical dates."""

    start: dt.datetime
    end: dt.datetime

    def airflow_args(self) -> list[str]:
        """``["--from-date", ISO, "--to-date", ISO]`` with each instant's own offset (``+08:00`` for
        local dates), as ``airflow backfill create`` parses them (pendulum)."""
        return ["--from-date", self.start.isoformat(), "--to-date", self.end.isoformat()]

    def local_days(self) -> list[dt.date]:
        """The Asia/Shanghai calendar days the window touches, first to last."""
        first, last = self.start.astimezone(LOCAL_TZ).date(), self.end.astimezone(LOCAL_TZ).date()
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def parse_bound(text: str, *, end: bool) -> dt.datetime:
    """One bound as an aware datetime.

    ``YYYY-MM-DD``: that data day in Asia/Shanghai — its first instant (``end=False``) or its last,
    23:59:59.999999 (``end=True``). An ISO date-time without an offset: that wall time in
    Asia/Shanghai. With an offset (or ``Z``): as given, offset kept.
    Raises :class:`BackfillError` (exit code 2) when ``text`` is neither."""
    value = text.strip()
    try:
        if _DATE.fullmatch(value):
            day = dt.date.fromisoformat(value)
            return dt.datetime.combine(day, dt.time.max if end else dt.time.min, tzinfo=LOCAL_TZ)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BackfillError(f"bad date {text!r}: expected YYYY-MM-DD (a data day in {TIMEZONE}) or an ISO "
                            "date-time such as 2026-10-01T08:00 or 2026-10-01T00:00:00+00:00", 2) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=LOCAL_TZ)


def window(from_text: str, to_text: str) -> Window:
    """The window of ``--from``/``--to`` (see :func:`parse_bound`); raises :class:`BackfillError`
    (exit code 2) for a bad date or when ``--from`` is after ``--to``."""
    start, end = parse_bound(from_text, end=False), parse_bound(to_text, end=True)
    if start > end:
        raise BackfillError(f"--from {from_text} is after --to {to_text} "
                            f"({start.isoformat()} > {end.isoformat()})", 2)
    return Window(start, end)


def data_day(logical_date: dt.datetime) -> dt.date:
    """The local (Asia/Shanghai) data day of a run whose logical date (data interval start) is
    ``logical_date`` (aware)."""
    return logical_date.astimezone(LOCAL_TZ).date()


@dataclass(frozen=True)
class PlannedRun:
    """One run ``airflow backfill create --dry-run`` plans: ``logical_date`` (aware, None for a
    partitioned DAG) and ``partition_key`` (None unless partitioned)."""

    logical_date: dt.datetime | None
    partition_key: str | None = None


def parse_dry_run(stdout: str) -> list[PlannedRun]:
    """The runs in the "Runs to be attempted" table that ``airflow backfill create --dry-run``
    prints (a tabulate grid: ``| logical_date | partition_key | partition_date |``); [] when the
    table has no rows. Raises :class:`BackfillError` when the output has no such table."""
    lines = stdout.splitlines()
    try:
        begin = next(i for i, line in enumerate(lines) if line.strip().startswith("Runs to be attempted"))
    except StopIteration:
        raise BackfillError("airflow backfill create --dry-run printed no plan") from None
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in lines[begin + 1:] if line.strip().startswith("|")]
    if not rows:
        return []
    header, runs = rows[0], []
    for row in rows[1:]:
        cells = dict(zip(header, row))
        logical = cells.get("logical_date") or None
        runs.append(PlannedRun(dt.datetime.fromisoformat(logical) if logical else None,
                               cells.get("partition_key") or None))
    return runs


def _airflow() -> str:
    from baselib.orchestration.local_airflow import airflow_executable

    return airflow_executable()


def _run(args: list[str], *, show: bool = True) -> subprocess.CompletedProcess:
    """``airflow *args`` in this environment, output captured; the command is printed first."""
    command = [_airflow(), *args]
    if show:
        print("$ " + shlex.join(command), flush=True)
    try:
        return subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        raise BackfillError(f"no airflow executable at {command[0]}") from None


def _failure(done: subprocess.CompletedProcess) -> str:
    """The reason in a failed Airflow command's output: its exception line, else its last lines;
    credentials redacted."""
    from baselib.security.redaction import redact

    lines = [line.rstrip() for line in (done.stderr + "\n" + done.stdout).splitlines() if line.strip()]
    reasons = [line for line in lines if _EXCEPTION_LINE.match(line.strip())]
    if reasons:
        return redact(reasons[-1].strip())
    plain = [line for line in lines if not re.match(r"^\d{4}-\d{2}-\d{2}T", line)] or lines
    return redact(" | ".join(plain[-3:]) or f"exit status {done.returncode}")


def dag_details(dag_id: str) -> dict:
    """``airflow dags details DAG -o json`` as a dict (``is_paused`` as a bool); raises
    :class:`BackfillError` when the metadata database has no such DAG."""
    done = _run(["dags", "details", dag_id, "-o", "json"], show=False)
    if done.returncode != 0:
        if "does not exist" in done.stderr + done.stdout:
            raise BackfillError(f"DAG {dag_id} not found in the metadata database: check the id "
                                "(airflow dags list), and that the DAGs were parsed (dag-processor running, "
                                "or airflow dags reserialize)")
        raise BackfillError(f"airflow dags details {dag_id} failed: {_failure(done)}")
    details = None
    for line in done.stdout.splitlines():  # log lines may come first; the JSON is one line
        if line.startswith("[{"):
            try:
                details = json.loads(line)[0]
            except (ValueError, IndexError):
                continue
            break
    if not isinstance(details, dict):
        raise BackfillError(f"airflow dags details {dag_id} printed no JSON")
    details["is_paused"] = str(details.get("is_paused")).lower() == "true"
    return details


def _print_plan(dag_id: str, runs: list[PlannedRun], win: Window) -> None:
    print(f"planned runs of {dag_id}: {len(runs)} (data days in {TIMEZONE}, "
          f"window {win.start.isoformat()} .. {win.end.isoformat()})")
    for run in runs:
        if run.logical_date is None:
            print(f"  partition {run.partition_key}")
        else:
            utc = run.logical_date.astimezone(dt.timezone.utc).isoformat()
            local = run.logical_date.astimezone(LOCAL_TZ).isoformat()
            print(f"  data day {data_day(run.logical_date)}  logical date {local} ({utc})")
    covered = {data_day(r.logical_date) for r in runs if r.logical_date is not None}
    missing = [day for day in win.local_days() if day not in covered]
    if runs and missing and all(r.logical_date is not None for r in runs) and len(missing) < len(win.local_days()):
        print(f"  no run for: {', '.join(map(str, missing))} (not a scheduled data day, already done — "
              "see --reprocess-behavior — or its interval has not ended yet)")


def backfill(args) -> None:
    """The ``backfill`` command: validate, check the DAG, print the plan, create (see module doc).
    Raises :class:`BackfillError` on any refusal or failure."""
    win = window(args.from_, args.to)
    details = dag_details(args.dag_id)
    paused = details["is_paused"]
    unpause = f"airflow dags unpause {args.dag_id}"
    if paused and not args.dry_run and not args.unpause:
        raise BackfillError(f"DAG {args.dag_id} is paused: a backfill would be queued and never run; "
                            f"unpause it ({unpause}) or pass --unpause")
    if paused and args.dry_run:
        print(f"warning: DAG {args.dag_id} is paused: a backfill created now would be queued and never run "
              f"(unpause it: {unpause}, or pass --unpause without --dry-run)")

    extra = []
    if args.reprocess_behavior:
        extra += ["--reprocess-behavior", args.reprocess_behavior]
    if args.run_backwards:
        extra += ["--run-backwards"]
    create = ["backfill", "create", "--dag-id", args.dag_id, *win.airflow_args(), *extra]

    done = _run([*create, "--dry-run"])
    if done.returncode != 0:
        raise BackfillError(f"airflow backfill create --dry-run failed: {_failure(done)}")
    runs = parse_dry_run(done.stdout)
    _print_plan(args.dag_id, runs, win)
    if not runs:
        raise BackfillError(f"no runs to create for {args.dag_id} between {win.start.isoformat()} and "
                            f"{win.end.isoformat()}")
    if args.dry_run:
        print("dry run: nothing created")
        return

    if paused:
        done = _run(["dags", "unpause", args.dag_id, "-y"])
        if done.returncode != 0:
            raise BackfillError(f"{unpause} failed: {_failure(done)}")
        if dag_details(args.dag_id)["is_paused"]:
            raise BackfillError(f"DAG {args.dag_id} is still paused after {unpause}")
        print(f"unpaused DAG {args.dag_id} (--unpause): its schedule runs again too")
    if args.max_active_runs:
        create += ["--max-active-runs", str(args.max_active_runs)]
    done = _run(create)
    if done.returncode != 0:
        raise BackfillError(f"airflow backfill create failed: {_failure(done)}")
    print(f"backfill created for {args.dag_id}: {len(runs)} runs, queued for the scheduler "
          f"(progress: airflow dags list-runs {args.dag_id}, or the DAG's page in the UI)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def register(sub) -> None:
    """Add the ``backfill`` sub-command to the ``baselib.cli`` parser ``sub``."""
    parser = sub.add_parser(
        "backfill", help="airflow backfill create, dates in Asia/Shanghai",
        description=f"airflow backfill create for the data days --from..--to (inclusive), read in {TIMEZONE}; "
                    "refuses a paused DAG unless --unpause.")
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--from", dest="from_", required=True, metavar="DATE",
                        help=f"first data day (YYYY-MM-DD, {TIMEZONE}) or ISO date-time (offset kept; none: local)")
    parser.add_argument("--to", required=True, metavar="DATE", help="last data day, inclusive (same forms)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan only (a paused DAG only warns)")
    parser.add_argument("--reprocess-behavior", choices=("none", "failed", "completed"),
                        help="runs that exist for a data day: keep (none, Airflow's default), redo failed, redo all")
    parser.add_argument("--max-active-runs", type=_positive, metavar="N", help="runs of this backfill at once")
    parser.add_argument("--run-backwards", action="store_true", help="newest data day first")
    parser.add_argument("--unpause", action="store_true", help="unpause the DAG if it is paused, then backfill")

    def _command(args) -> None:
        try:
            backfill(args)
        except BackfillError as error:
            print(f"backfill: {error}", file=sys.stderr)
            raise SystemExit(error.exit_code) from None

    parser.set_defaults(func=_command)
