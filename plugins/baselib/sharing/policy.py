"""The sharing policy (include/sharing/policy.yaml): time limits in working days and the
working-day calendar they are counted in (weekends, public holidays, make-up working days)."""
from __future__ import annotations

import datetime as dt
import functools
import logging
import zoneinfo
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from baselib.errors import SharingError
from baselib.settings import INCLUDE_DIR

log = logging.getLogger(__name__)

POLICY_FILE = INCLUDE_DIR / "sharing" / "policy.yaml"


def instant(now: dt.datetime | None = None) -> dt.datetime:
    """``now`` checked, or the current instant (UTC) when it is None: the ``now=`` default of the
    sharing functions. Raises ValueError for a naive datetime (no instant)."""
    if now is None:
        return dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware instant")
    return now


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unconditional_review: int = Field(gt=0, description="无条件共享: working days for the compliance review")
    conditional_answer: int = Field(gt=0, description="有条件共享: working days for the provider's answer")
    conditional_publish_first: int = Field(gt=0, description="有条件共享 when the data must first be published")
    objection_answer: int = Field(gt=0, description="数据异议: working days to confirm or reject")
    objection_correction: int = Field(gt=0, description="a confirmed objection: working days to correct it")


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: str = "Asia/Shanghai"
    limits: Limits
    max_period_days: int = Field(gt=0)
    holidays: dict[dt.date, str] = Field(default_factory=dict)
    workdays: dict[dt.date, str] = Field(default_factory=dict, description="make-up working days (调休上班)")

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @functools.cached_property
    def calendar(self) -> WorkingCalendar:
        """The working-day calendar, built once per loaded policy (so its "no holiday list"
        warning is logged once per year, not on every call)."""
        return WorkingCalendar(self.holidays, self.workdays, self.zone)


@functools.lru_cache(maxsize=4)
def load(path: Path = POLICY_FILE) -> Policy:
    """The policy file parsed. Raises SharingError naming the file and the field when it is malformed."""
    try:
        return Policy.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise SharingError(f"{path}: not a valid sharing policy: {exc}") from exc


class WorkingCalendar:
    """Working days in ``zone``: Monday to Friday, minus ``holidays``, plus ``workdays``.

    A year that has neither a holiday nor a make-up day listed is counted as weekends only, with a
    warning logged once per year."""

    def __init__(self, holidays: dict[dt.date, str], workdays: dict[dt.date, str],
                 zone: zoneinfo.ZoneInfo = zoneinfo.ZoneInfo("Asia/Shanghai")):
        self.holidays = dict(holidays)
        self.workdays = dict(workdays)
        self.zone = zone
        self._years = {d.year for d in [*holidays, *workdays]}
        self._warned: set[int] = set()

    def is_working_day(self, day: dt.date) -> bool:
        if day.year not in self._years and day.year not in self._warned:
            self._warned.add(day.year)
            log.warning("no holiday list for %s in %s: counting weekends only", day.year, POLICY_FILE)
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def local_date(self, instant: dt.datetime) -> dt.date:
        """The calendar date of ``instant`` (timezone-aware) in the policy's zone."""
        if instant.tzinfo is None:
            raise ValueError("a naive datetime has no calendar date: give a timezone-aware instant")
        return instant.astimezone(self.zone).date()

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The deadline ``days`` working days after ``start``: 24:00 local time (00:00 of the next
        day) at the end of the ``days``-th working day after ``start``'s local date."""
        day = self.local_date(start)
        remaining = days
        while remaining > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.zone)

    def working_days_between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Working days after ``start``'s local date up to and including ``end``'s: 0 when both fall
        on the same day, 1 for a decision on the next working day. Negative spans give 0."""
        first, last = self.local_date(start), self.local_date(end)
        count, day = 0, first
        while day < last:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count
