"""The backfill wrapper's dates: local data days (Asia/Shanghai) to the instants Airflow gets.

The planned runs come from Airflow's own timetables (the classes the scheduler and
``airflow backfill create`` use), iterated over the wrapper's window exactly as
``SerializedDAG.iter_dagrun_infos_between`` does, after parsing the wrapper's arguments with the
parser ``airflow backfill create`` uses for ``--from-date``/``--to-date``. A run's data days
(the local days from its data interval's start to the day before its end's day, at least the
start's day) are computed here independently of the wrapper.
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baselib.orchestration import backfill
from baselib.orchestration.backfill import BackfillError, PlannedRun, parse_bound, parse_dry_run, window

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def airflow_parts(tmp_path_factory):
    """Airflow's timetable classes, ``TimeRestriction`` and CLI date parser, imported with a
    throw-away ``AIRFLOW_HOME`` (importing airflow writes a default config there)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
        from airflow.timetables.base import TimeRestriction
        from airflow.timetables.interval import CronDataIntervalTimetable
        from airflow.timetables.trigger import CronTriggerTimetable
        from airflow.utils.timezone import coerce_datetime, parse

        yield {"interval": CronDataIntervalTimetable, "trigger": CronTriggerTimetable,
               "restriction": TimeRestriction, "parse": parse, "coerce": coerce_datetime}


def planned_logical_dates(parts, timetable, win) -> list[dt.datetime]:
    """The logical dates Airflow plans for ``win`` as the wrapper passes it on the command line."""
    args = win.airflow_args()
    earliest = parts["coerce"](parts["parse"](args[1]))
    latest = parts["coerce"](parts["parse"](args[3]))
    restriction = parts["restriction"](earliest, latest, catchup=True)
    infos, info = [], None
    while (info := timetable.next_dagrun_info_v2(last_dagrun_info=info, restriction=restriction)) is not None:
        infos.append(info.logical_date)
    return infos


def local_days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def all_runs(parts, timetable, earliest: dt.datetime, latest: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """(logical date, data interval end) of every run of ``timetable`` with a logical date in
    [earliest, latest], straight from Airflow's timetable."""
    restriction = parts["restriction"](parts["coerce"](earliest), parts["coerce"](latest), catchup=True)
    out, info = [], None
    while (info := timetable.next_dagrun_info_v2(last_dagrun_info=info, restriction=restriction)) is not None:
        out.append((info.logical_date, info.data_interval.end))
    return out


def data_days(logical: dt.datetime, end: dt.datetime) -> set[dt.date]:
    """A run's data days: its interval start's local day to the day before its end's local day."""
    first, end_day = logical.astimezone(SHANGHAI).date(), end.astimezone(SHANGHAI).date()
    return set(local_days(first, max(first, end_day - dt.timedelta(days=1))))


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=SHANGHAI)


# --- dates to instants -----------------------------------------------------------------------------

def test_a_date_is_the_whole_local_data_day():
    start, end = parse_bound("2026-10-01", end=False), parse_bound("2026-10-07", end=True)
    assert start == dt.datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert end == dt.datetime(2026, 10, 7, 15, 59, 59, 999999, tzinfo=UTC)
    assert window("2026-10-01", "2026-10-07").airflow_args() == [
        "--from-date", "2026-10-01T00:00:00+08:00", "--to-date", "2026-10-07T23:59:59.999999+08:00"]


def test_a_date_time_without_offset_is_local_and_one_with_an_offset_is_kept():
    assert parse_bound("2026-10-01T08:30", end=False) == dt.datetime(2026, 10, 1, 0, 30, tzinfo=UTC)
    assert parse_bound("2026-10-01 08:30:00", end=True) == dt.datetime(2026, 10, 1, 0, 30, tzinfo=UTC)
    kept = parse_bound("2026-10-01T00:00:00-03:00", end=True)
    assert kept == dt.datetime(2026, 10, 1, 3, tzinfo=UTC) and kept.utcoffset() == dt.timedelta(hours=-3)
    assert parse_bound("2026-10-01T00:00:00Z", end=False) == dt.datetime(2026, 10, 1, tzinfo=UTC)
    assert window("2026-10-01T00:00:00+00:00", "2026-10-01T00:00:00+00:00").airflow_args() == [
        "--from-date", "2026-10-01T00:00:00+00:00", "--to-date", "2026-10-01T00:00:00+00:00"]


@pytest.mark.parametrize("text", ["2026-13-01", "2026-02-30", "01/10/2026", "yesterday", ""])
def test_a_bad_date_is_a_usage_error(text):
    with pytest.raises(BackfillError, match="bad date") as caught:
        parse_bound(text, end=False)
    assert caught.value.exit_code == 2


def test_from_after_to_is_a_usage_error():
    with pytest.raises(BackfillError, match="--from 2026-10-08 is after --to 2026-10-07") as caught:
        window("2026-10-08", "2026-10-07")
    assert caught.value.exit_code == 2
    window("2026-10-07", "2026-10-07")  # one day is fine
    with pytest.raises(BackfillError, match="is after"):  # 08:00 local is 00:00 UTC; 07:00 local is before
        window("2026-10-01T00:00:00+00:00", "2026-10-01T07:00")


# --- what Airflow plans for the window ---------------------------------------------------------------

def test_plain_utc_dates_miss_the_first_local_day_and_the_wrapper_does_not(airflow_parts):
    """What ``airflow backfill create --from-date 2026-10-01 --to-date 2026-10-07`` does (UTC
    midnights), next to the wrapper's window, on the catalog's daily timetable."""
    daily = airflow_parts["interval"]("@daily", timezone="Asia/Shanghai")
    plain = backfill.Window(dt.datetime(2026, 10, 1, tzinfo=UTC), dt.datetime(2026, 10, 7, tzinfo=UTC))
    assert [backfill.data_day(d) for d in planned_logical_dates(airflow_parts, daily, plain)] == \
        local_days(dt.date(2026, 10, 2), dt.date(2026, 10, 7))
    wrapped = window("2026-10-01", "2026-10-07")
    assert [backfill.data_day(d) for d in planned_logical_dates(airflow_parts, daily, wrapped)] == \
        local_days(dt.date(2026, 10, 1), dt.date(2026, 10, 7))


days = st.dates(min_value=dt.date(1995, 1, 1), max_value=dt.date(2035, 12, 31))


@settings(max_examples=150, deadline=None)
@given(first=days, span=st.integers(min_value=0, max_value=40),
       cron=st.sampled_from(["@daily", "0 0 * * *", "30 2 * * *", "59 23 * * *"]))
def test_every_local_day_in_the_range_is_planned_once(airflow_parts, first, span, cron):
    """Daily DAGs: one run per day, the window unchanged by the DAG's timetable (a run of
    ``30 2 * * *`` that started the day before ends at 02:30 on --from: its data day is the day before)."""
    last = first + dt.timedelta(days=span)
    timetable = airflow_parts["interval"](cron, timezone="Asia/Shanghai")
    assert window(str(first), str(last), timetable) == window(str(first), str(last))
    planned = planned_logical_dates(airflow_parts, timetable, window(str(first), str(last), timetable))
    assert [backfill.data_day(d) for d in planned] == local_days(first, last)


@settings(max_examples=60, deadline=None)
@given(first=days, span=st.integers(min_value=0, max_value=60))
def test_trigger_timetables_plan_the_triggers_on_the_days_in_the_range(airflow_parts, first, span):
    last = first + dt.timedelta(days=span)
    platform = airflow_parts["trigger"]("15 3 * * *", timezone="Asia/Shanghai")  # a platform DAG's schedule
    win = window(str(first), str(last), platform)
    assert win == window(str(first), str(last))  # intervals of length 0: nothing to widen
    planned = planned_logical_dates(airflow_parts, platform, win)
    assert [backfill.data_day(d) for d in planned] == local_days(first, last)
    assert {d.astimezone(SHANGHAI).time() for d in planned} == {dt.time(3, 15)}
    weekly = airflow_parts["trigger"]("0 3 * * 1", timezone="Asia/Shanghai")  # Mondays only: no run moves in
    planned = planned_logical_dates(airflow_parts, weekly, window(str(first), str(last), weekly))
    assert [backfill.data_day(d) for d in planned] == [d for d in local_days(first, last) if d.isoweekday() == 1]


# --- non-daily DAGs: the run holding --from is planned (review R3.3) ---------------------------------

@pytest.mark.parametrize(("cron", "from_", "to", "start", "planned_days"), [
    ("@monthly", "2026-01-15", "2026-03-15", "2026-01-01T00:00:00+08:00", ["2026-01-01", "2026-02-01", "2026-03-01"]),
    ("0 0 1 1,4,7,10 *", "2026-02-01", "2026-06-30", "2026-01-01T00:00:00+08:00", ["2026-01-01", "2026-04-01"]),
    ("@weekly", "2026-10-01", "2026-10-10", "2026-09-27T00:00:00+08:00", ["2026-09-27", "2026-10-04"]),
    ("0 0 1 1,7 *", "2026-06-30", "2026-07-01", "2026-01-01T00:00:00+08:00", ["2026-01-01", "2026-07-01"]),
    ("@yearly", "2025-12-31", "2025-12-31", "2025-01-01T00:00:00+08:00", ["2025-01-01"]),
    # tax credit rating (pipeline.schedule "0 2 1 5 *"): the 2025 run ends 2026-05-01 02:00, so
    # 2026-05-01 is the 2026 run's first data day, and 05-02 is in it
    ("0 2 1 5 *", "2026-05-01", "2026-05-01", "2026-05-01T00:00:00+08:00", ["2026-05-01"]),
    ("0 2 1 5 *", "2026-05-02", "2026-05-03", "2026-05-01T02:00:00+08:00", ["2026-05-01"]),
    ("@monthly", "2026-01-01", "2026-01-01", "2026-01-01T00:00:00+08:00", ["2026-01-01"]),  # an interval start
])
def test_the_window_starts_at_the_run_holding_the_first_data_day(airflow_parts, cron, from_, to, start, planned_days):
    timetable = airflow_parts["interval"](cron, timezone="Asia/Shanghai")
    win = window(from_, to, timetable)
    assert win.airflow_args()[:2] == ["--from-date", start]
    assert win.airflow_args()[2:] == window(from_, to).airflow_args()[2:]  # --to is never moved
    assert win.requested == (None if win.start == parse_bound(from_, end=False) else parse_bound(from_, end=False))
    assert win.local_days() == window(from_, to).local_days()  # the asked-for days, not the widened ones
    planned = planned_logical_dates(airflow_parts, timetable, win)
    assert [str(backfill.data_day(d)) for d in planned] == planned_days


crons = ["@daily", "30 2 * * *", "59 23 * * *", "@weekly", "0 3 * * 3", "@monthly", "0 2 1 * *",
         "0 0 1 1,4,7,10 *", "0 0 1 1,7 *", "@yearly", "0 2 1 5 *"]


@settings(max_examples=200, deadline=None)
@given(first=st.dates(min_value=dt.date(1996, 1, 1), max_value=dt.date(2035, 12, 31)),
       span=st.integers(min_value=0, max_value=120), cron=st.sampled_from(crons))
def test_the_planned_runs_are_exactly_those_with_a_data_day_in_the_range(airflow_parts, first, span, cron):
    """Any cron-interval DAG, any range: Airflow, given the wrapper's window, plans every run one of
    whose data days lies in [--from, --to], and no other; their data days cover the whole range."""
    last = first + dt.timedelta(days=span)
    timetable = airflow_parts["interval"](cron, timezone="Asia/Shanghai")
    asked = set(local_days(first, last))
    everything = all_runs(airflow_parts, timetable, midnight(first) - dt.timedelta(days=400),
                          midnight(last + dt.timedelta(days=1)))
    expected = [logical for logical, end in everything if data_days(logical, end) & asked]
    planned = planned_logical_dates(airflow_parts, timetable, window(str(first), str(last), timetable))
    assert planned == expected
    ends = dict(everything)
    assert set().union(*(data_days(p, ends[p]) for p in planned)) >= asked


def test_a_date_time_bound_is_widened_to_the_interval_that_contains_it(airflow_parts):
    hourly = airflow_parts["interval"]("@hourly", timezone="Asia/Shanghai")
    assert window("2026-10-01T08:30", "2026-10-01T10:00", hourly).airflow_args()[1] == "2026-10-01T08:00:00+08:00"
    assert window("2026-10-01", "2026-10-01", hourly) == window("2026-10-01", "2026-10-01")  # 00:00 starts a run
    daily = airflow_parts["interval"]("@daily", timezone="Asia/Shanghai")
    assert window("2026-10-01T08:30", "2026-10-02", daily).airflow_args()[1] == "2026-10-01T00:00:00+08:00"
    win = window("2026-10-01T00:00:00Z", "2026-10-02", daily)  # 08:00 local, offset kept
    assert win.airflow_args()[1] == "2026-09-30T16:00:00+00:00"


def test_data_days_of_a_run():
    at = lambda *args: dt.datetime(*args, tzinfo=SHANGHAI)  # noqa: E731
    assert backfill.local_days_of(at(2026, 1, 1), at(2026, 2, 1)) == local_days(dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    assert backfill.local_days_of(at(2026, 10, 1, 2, 30), at(2026, 10, 2, 2, 30)) == [dt.date(2026, 10, 1)]
    assert backfill.local_days_of(at(2026, 10, 1, 8), at(2026, 10, 1, 9)) == [dt.date(2026, 10, 1)]
    assert backfill.local_days_of(at(2026, 10, 1, 3, 15), at(2026, 10, 1, 3, 15)) == [dt.date(2026, 10, 1)]
    assert backfill.local_days_of(dt.datetime(2026, 9, 30, 16, tzinfo=UTC), None) == [dt.date(2026, 10, 1)]


def test_the_plan_prints_each_run_with_its_data_days(airflow_parts, capsys):
    monthly = airflow_parts["interval"]("@monthly", timezone="Asia/Shanghai")
    win = window("2026-01-15", "2026-03-15", monthly)
    runs = [PlannedRun(d) for d in planned_logical_dates(airflow_parts, monthly, win)]
    backfill._print_plan("m", runs, win, monthly)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("planned runs of m: 3 (data days in Asia/Shanghai, window 2026-01-01T00:00:00+08:00 .. "
                      "2026-03-15T23:59:59.999999+08:00)")
    assert out[1] == ("  --from 2026-01-15T00:00:00+08:00 lies in the run of data days 2026-01-01 .. 2026-01-31 "
                      "(0 0 1 * *, Asia/Shanghai): the backfill starts at its logical date 2026-01-01T00:00:00+08:00")
    assert out[2:] == [
        "  data days 2026-01-01 .. 2026-01-31 (31 days)  logical date 2026-01-01T00:00:00+08:00 (2025-12-31T16:00:00+00:00)",
        "  data days 2026-02-01 .. 2026-02-28 (28 days)  logical date 2026-02-01T00:00:00+08:00 (2026-01-31T16:00:00+00:00)",
        "  data days 2026-03-01 .. 2026-03-31 (31 days)  logical date 2026-03-01T00:00:00+08:00 (2026-02-28T16:00:00+00:00)",
    ]  # every asked-for day is covered: no "no planned run covers" line

    daily = airflow_parts["interval"]("@daily", timezone="Asia/Shanghai")
    win = window("2026-10-01", "2026-10-07", daily)
    runs = [PlannedRun(d) for d in planned_logical_dates(airflow_parts, daily, win)]
    backfill._print_plan("d", runs[:2] + runs[3:4], win, daily)  # as if 10-03 and 10-05..07 existed already
    out = capsys.readouterr().out.splitlines()
    assert out[1:4] == [f"  data day 2026-10-0{d}  logical date 2026-10-0{d}T00:00:00+08:00 (2026-{p}T16:00:00+00:00)"
                        for d, p in ((1, "09-30"), (2, "10-01"), (4, "10-03"))]
    assert out[4].startswith("  no planned run covers: 2026-10-03, 2026-10-05..2026-10-07 (")


offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
moments = st.datetimes(min_value=dt.datetime(1995, 1, 1), max_value=dt.datetime(2035, 12, 31), timezones=offsets)


@settings(max_examples=150, deadline=None)
@given(moment=moments, end=st.booleans())
def test_a_date_time_with_an_offset_reaches_airflow_as_given(airflow_parts, moment, end):
    bound = parse_bound(moment.isoformat(), end=end)
    assert bound == moment and bound.utcoffset() == moment.utcoffset()
    win = window(moment.isoformat(), moment.isoformat())
    parsed = [airflow_parts["parse"](text) for text in win.airflow_args()[1::2]]
    assert parsed == [moment, moment] and all(p.utcoffset() == moment.utcoffset() for p in parsed)


@settings(max_examples=100, deadline=None)
@given(moment=st.datetimes(min_value=dt.datetime(1995, 1, 1), max_value=dt.datetime(2035, 12, 31)))
def test_a_date_time_without_offset_is_that_wall_time_in_shanghai(airflow_parts, moment):
    text = moment.isoformat()
    bound = parse_bound(text, end=False)
    assert bound.astimezone(SHANGHAI).replace(tzinfo=None) == moment
    assert airflow_parts["parse"](window(text, text).airflow_args()[1]) == bound


# --- the dry run's table ------------------------------------------------------------------------------

DRY_RUN = """Performing dry run of backfill.
Printing params:
    - dag_id = base_population__person
    - from_date = 2026-10-01 00:00:00+08:00
Runs to be attempted:
+---------------------------+-----------------+------------------+
| logical_date              | partition_key   | partition_date   |
+===========================+=================+==================+
| 2026-10-01 00:00:00+08:00 |                 |                  |
+---------------------------+-----------------+------------------+
| 2026-10-01 16:00:00+00:00 |                 |                  |
+---------------------------+-----------------+------------------+
"""  # as airflow 3.3.2 prints it (the first run keeps --from-date's offset)


def test_the_dry_run_table_is_read_as_instants():
    assert parse_dry_run(DRY_RUN) == [PlannedRun(dt.datetime(2026, 9, 30, 16, tzinfo=UTC)),
                                      PlannedRun(dt.datetime(2026, 10, 1, 16, tzinfo=UTC))]
    assert parse_dry_run("Performing dry run of backfill.\nRuns to be attempted:\n\n") == []
    with pytest.raises(BackfillError, match="no plan"):
        parse_dry_run("Traceback (most recent call last):\n")


# --- the command's usage errors: a message and a status, no traceback ---------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-10-08", "--to", "2026-10-07"], "backfill: --from 2026-10-08 is after --to 2026-10-07"),
    (["--from", "2026-10-32", "--to", "2026-10-07"], "backfill: bad date '2026-10-32'"),
])
def test_the_command_reports_usage_errors_without_a_traceback(args, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "baselib.cli", "backfill", "--dag-id", "any", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "plugins"),
                               "AIRFLOW_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.startswith(message) and "Traceback" not in done.stderr
