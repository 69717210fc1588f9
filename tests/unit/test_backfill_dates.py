"""The backfill wrapper's dates: local data days (Asia/Shanghai) to the instants Airflow gets.

The planned runs come from Airflow's own timetables (the classes the scheduler and
``airflow backfill create`` use), iterated over the wrapper's window exactly as
``SerializedDAG.iter_dagrun_infos_between`` does, after parsing the wrapper's arguments with the
parser ``airflow backfill create`` uses for ``--from-date``/``--to-date``.
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
    last = first + dt.timedelta(days=span)
    timetable = airflow_parts["interval"](cron, timezone="Asia/Shanghai")
    planned = planned_logical_dates(airflow_parts, timetable, window(str(first), str(last)))
    assert [backfill.data_day(d) for d in planned] == local_days(first, last)


@settings(max_examples=60, deadline=None)
@given(first=days, span=st.integers(min_value=0, max_value=60))
def test_weekly_and_trigger_timetables_plan_their_days_in_the_range(airflow_parts, first, span):
    last = first + dt.timedelta(days=span)
    win = window(str(first), str(last))
    weekly = airflow_parts["interval"]("@weekly", timezone="Asia/Shanghai")  # data interval starts on Sundays
    assert [backfill.data_day(d) for d in planned_logical_dates(airflow_parts, weekly, win)] == \
        [d for d in local_days(first, last) if d.isoweekday() == 7]
    platform = airflow_parts["trigger"]("15 3 * * *", timezone="Asia/Shanghai")  # a platform DAG's schedule
    planned = planned_logical_dates(airflow_parts, platform, win)
    assert [backfill.data_day(d) for d in planned] == local_days(first, last)
    assert {d.astimezone(SHANGHAI).time() for d in planned} == {dt.time(3, 15)}


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
