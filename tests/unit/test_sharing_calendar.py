"""The working-day calendar of the sharing policy (include/sharing/policy.yaml): weekends, the 2026
public holidays and make-up working days (调休上班), years without a list, deadlines as instants."""
from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baselib.sharing import policy

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc


def local(y, m, d, h=10, minute=0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def calendar() -> policy.WorkingCalendar:
    return policy.load().calendar


def test_policy_file_limits():
    limits = policy.load().limits
    assert (limits.unconditional_review, limits.conditional_answer, limits.conditional_publish_first) == (2, 5, 10)
    assert (limits.objection_answer, limits.objection_correction) == (5, 10)
    assert policy.load().max_period_days == 1096


def test_weekends_are_not_working_days(calendar):
    assert calendar.is_working_day(dt.date(2026, 11, 6))       # Friday
    assert not calendar.is_working_day(dt.date(2026, 11, 7))   # Saturday
    assert not calendar.is_working_day(dt.date(2026, 11, 8))   # Sunday
    assert calendar.is_working_day(dt.date(2026, 11, 9))       # Monday


def test_holidays_and_make_up_days_of_2026(calendar):
    assert not calendar.is_working_day(dt.date(2026, 10, 1))   # National Day, Thursday
    assert not calendar.is_working_day(dt.date(2026, 10, 7))   # National Day, Wednesday
    assert calendar.is_working_day(dt.date(2026, 10, 10))      # make-up Saturday
    assert calendar.is_working_day(dt.date(2026, 9, 20))       # make-up Sunday
    assert not calendar.is_working_day(dt.date(2026, 2, 16))   # Spring Festival, Monday
    assert calendar.is_working_day(dt.date(2026, 2, 14))       # make-up Saturday
    assert calendar.is_working_day(dt.date(2026, 1, 4))        # make-up Sunday after 元旦


def test_national_day_deadline(calendar):
    # submitted on 30 September: 1-7 October are holidays, 8 and 9 October are the two working days
    due = calendar.add_working_days(local(2026, 9, 30, 16), 2)
    assert due == dt.datetime(2026, 10, 10, 0, 0, tzinfo=SHANGHAI)
    assert due.utcoffset() == dt.timedelta(hours=8)
    # the make-up Saturday 10 October counts: submitted on the 8th, due at the end of the 10th
    assert calendar.add_working_days(local(2026, 10, 8), 2) == dt.datetime(2026, 10, 11, tzinfo=SHANGHAI)


def test_deadline_over_a_weekend(calendar):
    # Friday 6 November + 5 working days = Friday 13 November, so due at 00:00 on the 14th
    assert calendar.add_working_days(local(2026, 11, 6), 5) == dt.datetime(2026, 11, 14, tzinfo=SHANGHAI)
    # the submission day never counts, even late at night
    assert calendar.add_working_days(local(2026, 11, 9, 23, 59), 1) == dt.datetime(2026, 11, 11, tzinfo=SHANGHAI)


def test_local_date_not_utc_date(calendar):
    # 2026-11-06 17:00 UTC is Saturday 01:00 in Shanghai: the local date decides
    instant = dt.datetime(2026, 11, 6, 17, tzinfo=UTC)
    assert calendar.local_date(instant) == dt.date(2026, 11, 7)
    assert calendar.add_working_days(instant, 1) == dt.datetime(2026, 11, 10, tzinfo=SHANGHAI)


def test_working_days_between_across_a_holiday(calendar):
    assert calendar.working_days_between(local(2026, 9, 30), local(2026, 9, 30, 18)) == 0
    assert calendar.working_days_between(local(2026, 9, 30), local(2026, 10, 7)) == 0
    assert calendar.working_days_between(local(2026, 9, 30), local(2026, 10, 8)) == 1
    assert calendar.working_days_between(local(2026, 9, 30), local(2026, 10, 10)) == 3  # make-up Saturday
    assert calendar.working_days_between(local(2026, 10, 10), local(2026, 9, 30)) == 0  # negative span


def test_a_year_without_a_list_counts_weekends_only_and_warns(caplog):
    calendar = policy.WorkingCalendar({dt.date(2026, 10, 1): "国庆节"}, {}, SHANGHAI)
    with caplog.at_level(logging.WARNING, logger="baselib.sharing.policy"):
        # 1 October 2027 is a Friday: a working day, since 2027 has no list
        assert calendar.is_working_day(dt.date(2027, 10, 1))
        assert calendar.add_working_days(local(2027, 10, 1), 1) == dt.datetime(2027, 10, 5, tzinfo=SHANGHAI)
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1 and "weekends only" in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="baselib.sharing.policy"):
        assert not calendar.is_working_day(dt.date(2026, 10, 1))
    assert not caplog.records  # 2026 has a list


def test_the_policys_calendar_is_built_once_so_it_warns_once_per_year(caplog):
    """Every sharing function reads ``policy.load().calendar``: a calendar rebuilt on each call
    would log the "no holiday list" warning on every call instead of once per year."""
    fresh = policy.load.__wrapped__(policy.POLICY_FILE)  # not the cached policy other tests warmed
    assert fresh.calendar is fresh.calendar
    with caplog.at_level(logging.WARNING, logger="baselib.sharing.policy"):
        for _ in range(3):
            fresh.calendar.add_working_days(local(2031, 3, 3), 2)
    assert len([r for r in caplog.records if "2031" in r.getMessage()]) == 1


def test_instant_is_the_checked_now_or_the_current_utc_instant():
    given_now = local(2026, 11, 2)
    assert policy.instant(given_now) is given_now
    current = policy.instant()
    assert current.tzinfo is not None and abs(current - dt.datetime.now(UTC)) < dt.timedelta(minutes=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.instant(dt.datetime(2026, 11, 2, 10))


def test_naive_datetimes_are_rejected(calendar):
    naive = dt.datetime(2026, 11, 6, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.add_working_days(naive, 2)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.working_days_between(naive, local(2026, 11, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.local_date(naive)


instants = st.datetimes(min_value=dt.datetime(2025, 12, 1), max_value=dt.datetime(2027, 1, 31),
                        timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(start=instants, days=st.integers(min_value=1, max_value=40))
def test_deadline_is_exactly_n_working_days(start, days):
    calendar = policy.load().calendar
    due = calendar.add_working_days(start, days)
    assert calendar.working_days_between(start, due - dt.timedelta(microseconds=1)) == days
    assert calendar.working_days_between(start, due) == days + calendar.is_working_day(calendar.local_date(due))
    assert calendar.is_working_day(calendar.local_date(due) - dt.timedelta(days=1))
    assert due.astimezone(SHANGHAI).time() == dt.time(0, 0)
