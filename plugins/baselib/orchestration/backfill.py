"""``python -m baselib.cli backfill``: ``airflow backfill create`` for the local data days a user names.

``airflow backfill create --from-date D1 --to-date D2`` reads plain dates as UTC midnights and
plans the runs whose *logical date* lies in ``[D1, D2]`` (both inclusive). The platform's DAGs
are scheduled in Asia/Shanghai (UTC+8): a daily catalog DAG's logical date (its data interval's
start) is local midnight, ``D-1 16:00 UTC``, so ``2026-10-01..2026-10-07`` plans the data days
2026-10-02..2026-10-07 — six runs, the first day missed. And a logical date is the *start* of a
run's data interval: for a monthly DAG, ``--from-date 2026-01-15`` skips January's run, whose
interval holds 01-15..01-31.

This wrapper asks Airflow for **every run with a data day in [--from, --to]**. A run's data days
are the local (Asia/Shanghai) days from its data interval's start to the day before its end's day —
at least the start's day: daily [10-01 00:00, 10-02 00:00) → 10-01; monthly [01-01, 02-01) →
01-01..01-31; a cron trigger (interval of length 0) → the day it fires.

* ``--from``/``--to`` as a date (``2026-10-01``) mean that day in Asia/Shanghai; ``--to`` includes
  its whole day. A date-time without an offset (``2026-10-01T08:00``) is read in Asia/Shanghai; one
  with an offset (``…+00:00``, ``…Z``) is taken as given. Both bounds are inclusive.
* ``--from`` is moved back to the logical date of the run that holds it — for a date, the run that
  started earlier and whose interval outlasts that whole day; for a date-time, the run whose
  interval contains it — using the DAG's own timetable: the serialized DAG's, read from the
  metadata database, which is what ``airflow backfill create`` plans with, iterated as Airflow does
  (``SerializedDAG.iter_dagrun_infos_between``). ``--from 2026-01-15`` on a monthly DAG starts at
  2026-01-01 00:00 Asia/Shanghai; on a daily DAG it stays 2026-01-15 00:00; a
  ``CronTriggerTimetable`` (the platform DAGs) never moves it. ``--to`` needs no change: a run
  that starts after it has no data day in the range.
* It passes Airflow the exact instants (``--from-date 2026-01-01T00:00:00+08:00 --to-date
  2026-03-15T23:59:59.999999+08:00``), running the ``airflow`` beside ``sys.executable`` in this
  process's environment, and prints each command and every planned run with its data days.
* A backfill of a paused DAG is created but never runs (the scheduler skips paused DAGs,
  silently). The wrapper refuses a paused DAG unless ``--unpause`` is given (it then unpauses it
  and says so); with ``--dry-run`` it only warns.

Everything it reads comes from the metadata database directly (``airflow dags details``,
``airflow backfill create``, ``airflow dags unpause``, and the serialized DAG read in this
process): no api-server is needed, but the DAG must have been parsed (serialized) by a
dag-processor or ``airflow dags reserialize``.

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
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from baselib.orchestration.schedules import TIMEZONE

if TYPE_CHECKING:
    from airflow.timetables.base import DagRunInfo, Timetable

LOCAL_TZ = ZoneInfo(TIMEZONE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# an exception line at the end of a traceback: "airflow.exceptions.DagNotFound: Could not find …"
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)+[A-Z]\w*: .+|^[A-Z]\w*(?:Error|Exception): .+")
# how far back (days) to look for the run whose interval holds --from: beyond any cron schedule's period
_LOOKBACK_DAYS = 4 * 366
_MAX_RUNS = 200_000  # runs one window may plan (an hourly DAG over 20 years); more is refused


class BackfillError(Exception):
    """A backfill the wrapper will not (or Airflow did not) create; the message says why.
    ``exit_code``: 2 for a bad argument, 1 otherwise."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Window:
    """The instants Airflow gets: ``start`` and ``end`` are aware datetimes, both inclusive bounds
    of the runs' logical dates. ``requested`` is ``--from`` as given (aware) when ``start`` was
    moved back to the start of the run whose data interval holds it; None when ``start`` is
    ``--from`` itself."""

    start: dt.datetime
    end: dt.datetime
    requested: dt.datetime | None = None

    def airflow_args(self) -> list[str]:
        """``["--from-date", ISO, "--to-date", ISO]`` with each instant's own offset (``+08:00`` for
        local dates), as ``airflow backfill create`` parses them (pendulum)."""
        return ["--from-date", self.start.isoformat(), "--to-date", self.end.isoformat()]

    def local_days(self) -> list[dt.date]:
        """The Asia/Shanghai calendar days from ``--from`` (``requested``, else ``start``) to ``end``,
        first to last: the days the user asked for."""
        first = (self.requested or self.start).astimezone(LOCAL_TZ).date()
        return _days(first, self.end.astimezone(LOCAL_TZ).date())


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
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


def window(from_text: str, to_text: str, timetable: Timetable | None = None) -> Window:
    """The window of ``--from``/``--to`` (see :func:`parse_bound`) for a DAG on ``timetable`` (an
    Airflow timetable, e.g. the serialized DAG's): ``start`` moved back to the logical date of the
    run that holds ``--from`` (:func:`covering_start`; for a date: the run one of whose data days
    is that day, see :func:`local_days_of`), so Airflow plans every run with a data day in
    [--from, --to] (for date-times: whose data interval overlaps them). Without a timetable the
    window is [--from, --to] as given — right for daily and cron-trigger DAGs only.
    Raises :class:`BackfillError` (exit code 2) for a bad date or when ``--from`` is after ``--to``."""
    start, end = parse_bound(from_text, end=False), parse_bound(to_text, end=True)
    if start > end:
        raise BackfillError(f"--from {from_text} is after --to {to_text} "
                            f"({start.isoformat()} > {end.isoformat()})", 2)
    if timetable is None:
        return Window(start, end)
    first = covering_start(timetable, start, parse_bound(from_text, end=True))
    return Window(first, end, start) if first < start else Window(start, end)


def _aware(moment) -> dt.datetime:
    """A stdlib aware datetime (UTC) for an aware datetime or pendulum DateTime."""
    utc = moment.astimezone(dt.timezone.utc)
    return dt.datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond,
                       tzinfo=dt.timezone.utc)


def runs_between(timetable: Timetable, earliest: dt.datetime, latest: dt.datetime) -> list[DagRunInfo]:
    """The runs (Airflow ``DagRunInfo``: ``logical_date``, ``data_interval``) that ``timetable``
    plans with a logical date in [earliest, latest] (aware, inclusive), in order — as
    ``SerializedDAG.iter_dagrun_infos_between`` does for ``airflow backfill create`` (before it
    drops the runs whose interval has not ended). [] for a partitioned or non-periodic timetable.
    Raises :class:`BackfillError` past ``_MAX_RUNS`` runs."""
    from airflow.sdk.timezone import coerce_datetime
    from airflow.timetables.base import TimeRestriction

    if timetable.partitioned or not timetable.periodic:
        return []
    restriction = TimeRestriction(coerce_datetime(earliest), coerce_datetime(latest), catchup=True)
    infos: list[DagRunInfo] = []
    info = None
    while (info := timetable.next_dagrun_info_v2(last_dagrun_info=info, restriction=restriction)) is not None:
        infos.append(info)
        if len(infos) > _MAX_RUNS:
            raise BackfillError(f"more than {_MAX_RUNS} runs between {earliest.isoformat()} and "
                                f"{latest.isoformat()}: backfill a shorter range", 2)
    return infos


def covering_start(timetable: Timetable, start: dt.datetime, through: dt.datetime | None = None) -> dt.datetime:
    """``start`` (aware), or — in ``start``'s time zone — the logical date of the earliest run of
    ``timetable`` that starts before ``start`` and whose data interval lasts beyond ``through``
    (default ``start``; for a ``--from`` date, that day's last instant: the run then covers the
    whole day). A monthly ``CronDataIntervalTimetable`` in Asia/Shanghai moves 2026-01-15T00:00+08:00
    to 2026-01-01T00:00+08:00; a daily one keeps a local midnight, and ``30 2 * * *`` keeps it too
    for a whole day (the run of 09-30 02:30 ends 10-01 02:30: its data day is 09-30); a
    ``CronTriggerTimetable`` (intervals of length 0) never moves it. Looks back ``_LOOKBACK_DAYS``
    at most; unchanged for a partitioned or non-periodic timetable."""
    through = start if through is None else through
    latest = start - dt.timedelta(microseconds=1)
    span = dt.timedelta(days=1)
    while True:
        before = runs_between(timetable, start - span, latest)
        holding = [info for info in before if info.data_interval is not None and info.data_interval.end > through]
        if len(holding) < len(before) or span.days >= _LOOKBACK_DAYS:
            break  # found a run before --from that does not hold it: nothing earlier does (cron schedules)
        span = min(span * 2, dt.timedelta(days=_LOOKBACK_DAYS))
    if not holding:
        return start
    first = min(_aware(info.logical_date) for info in holding if info.logical_date is not None)
    return first.astimezone(start.tzinfo)


def local_days_of(logical_date: dt.datetime, interval_end: dt.datetime | None) -> list[dt.date]:
    """The data days of a run whose data interval is [logical_date, interval_end) (aware): the
    Asia/Shanghai days from its start's day to the day before its end's day, first to last — at
    least the start's day (an hourly run, a cron trigger's interval of length 0, an unknown end
    None). Monthly [01-01 00:00, 02-01 00:00) → 01-01..01-31; daily [10-01 02:30, 10-02 02:30) →
    10-01 (the convention of a daily run's data day: its interval start's local date)."""
    first = logical_date.astimezone(LOCAL_TZ).date()
    if interval_end is None:
        return [first]
    return _days(first, max(first, interval_end.astimezone(LOCAL_TZ).date() - dt.timedelta(days=1)))


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
    errors = [line for line in lines if "[error" in line or "[critical" in line]  # Airflow's own log lines
    if errors:
        return redact(errors[-1].strip())
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


def dag_timetable(dag_id: str) -> Timetable:
    """The timetable of ``dag_id``'s latest serialized version in the metadata database (the one
    ``airflow backfill create`` plans with), read in this process with Airflow's ORM (the
    environment's ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``). Raises :class:`BackfillError` when the
    DAG has not been serialized or the database cannot be read (message redacted)."""
    from baselib.security.redaction import redact

    try:
        from airflow.models.serialized_dag import SerializedDagModel
        from airflow.utils.session import create_session

        with create_session() as session:
            serialized = SerializedDagModel.get(dag_id, session=session)
            dag = serialized.dag if serialized is not None else None
    except Exception as error:  # noqa: BLE001 — any failure to read becomes one line
        raise BackfillError(f"could not read DAG {dag_id}'s timetable from the metadata database: "
                            f"{redact(f'{type(error).__name__}: {error}'.splitlines()[0])}") from None
    if dag is None:
        raise BackfillError(f"DAG {dag_id} has no serialized version in the metadata database: let a "
                            "dag-processor parse it, or run airflow dags reserialize")
    return dag.timetable


def _ranges(days: list[dt.date]) -> str:
    """``2026-10-01..2026-10-03, 2026-10-05`` for sorted days."""
    parts: list[list[dt.date]] = []
    for day in days:
        if parts and day - parts[-1][-1] == dt.timedelta(days=1):
            parts[-1].append(day)
        else:
            parts.append([day])
    return ", ".join(str(p[0]) if len(p) == 1 else f"{p[0]}..{p[-1]}" for p in parts)


def _print_plan(dag_id: str, runs: list[PlannedRun], win: Window, timetable: Timetable | None = None) -> None:
    """The plan: a header, each run with the local days its data interval covers (``data day D``
    for one day, ``data days D1 .. D2 (N days)`` for more) and its logical date in local time and
    UTC, then the asked-for days no planned run covers."""
    ends = {}
    if timetable is not None:
        ends = {_aware(i.logical_date): _aware(i.data_interval.end)
                for i in runs_between(timetable, win.start, win.end)
                if i.logical_date is not None and i.data_interval is not None}
    print(f"planned runs of {dag_id}: {len(runs)} (data days in {TIMEZONE}, "
          f"window {win.start.isoformat()} .. {win.end.isoformat()})")
    if win.requested is not None:
        held = local_days_of(win.start, ends.get(_aware(win.start)))
        print(f"  --from {win.requested.isoformat()} lies in the run of data days {held[0]} .. {held[-1]} "
              f"({getattr(timetable, 'summary', '')}, {TIMEZONE}): the backfill starts at its logical date "
              f"{win.start.isoformat()}")
    covered: set[dt.date] = set()
    for run in runs:
        if run.logical_date is None:
            print(f"  partition {run.partition_key}")
            continue
        utc = run.logical_date.astimezone(dt.timezone.utc).isoformat()
        local = run.logical_date.astimezone(LOCAL_TZ).isoformat()
        days = local_days_of(run.logical_date, ends.get(_aware(run.logical_date)))
        covered.update(days)
        what = f"data day {days[0]}" if len(days) == 1 else f"data days {days[0]} .. {days[-1]} ({len(days)} days)"
        print(f"  {what}  logical date {local} ({utc})")
    missing = [day for day in win.local_days() if day not in covered]
    if runs and missing and all(r.logical_date is not None for r in runs):
        print(f"  no planned run covers: {_ranges(missing)} (their run exists already — see "
              "--reprocess-behavior —, its data interval has not ended yet, or the schedule has no run on them)")


def backfill(args) -> None:
    """The ``backfill`` command: validate, check the DAG, print the plan, create (see module doc).
    Raises :class:`BackfillError` on any refusal or failure."""
    window(args.from_, args.to)  # bad arguments first, before any Airflow command
    details = dag_details(args.dag_id)
    timetable = dag_timetable(args.dag_id)
    win = window(args.from_, args.to, timetable)
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
    _print_plan(args.dag_id, runs, win, timetable)
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
        description=f"airflow backfill create for every run whose data interval overlaps the days "
                    f"--from..--to (inclusive), read in {TIMEZONE}; refuses a paused DAG unless --unpause.")
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--from", dest="from_", required=True, metavar="DATE",
                        help=f"first data day (YYYY-MM-DD, {TIMEZONE}) or ISO date-time (offset kept; none: "
                             "local); the run whose data interval holds it is included")
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
