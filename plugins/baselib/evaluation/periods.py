"""Evaluation periods: a month, a quarter or a year of local dates (Asia/Shanghai).

Labels follow the statistics bureau's period forms (domain.md): ``2026-11`` (month), ``2026Q4``
(quarter), ``2026`` (year). A period is ``[start, end)`` of local dates; :attr:`Period.bounds` gives
the same as timezone-aware datetimes (00:00 Asia/Shanghai), for comparing with ``timestamptz``.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

TIMEZONE = ZoneInfo("Asia/Shanghai")
KINDS = ("month", "quarter", "year")
_PATTERNS = {"month": re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$"), "quarter": re.compile(r"^(\d{4})Q([1-4])$"),
             "year": re.compile(r"^(\d{4})$")}
_EXAMPLES = {"month": "2026-11", "quarter": "2026Q4", "year": "2026"}


@dataclass(frozen=True, order=True)
class Period:
    """``kind`` in :data:`KINDS`; ``label`` e.g. ``2026Q4``; ``start`` inclusive, ``end`` exclusive."""

    kind: str
    label: str
    start: dt.date
    end: dt.date

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """``[start, end)`` as aware datetimes at 00:00 Asia/Shanghai."""
        return (dt.datetime.combine(self.start, dt.time(), TIMEZONE), dt.datetime.combine(self.end, dt.time(), TIMEZONE))

    def months(self) -> list[Period]:
        """The months of this period, in order (a month: itself)."""
        out, day = [], self.start
        while day < self.end:
            out.append(containing("month", day))
            day = out[-1].end
        return out

    def previous(self) -> Period:
        return containing(self.kind, self.start - dt.timedelta(days=1))


def _month_start(year: int, month: int) -> dt.date:
    return dt.date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def parse(kind: str, label: str) -> Period:
    """The period ``label`` of ``kind``. Raises ValueError naming the expected form."""
    if kind not in KINDS:
        raise ValueError(f"period kind must be one of {KINDS}, got {kind!r}")
    match = _PATTERNS[kind].match(str(label).strip())
    if not match:
        other = next((k for k, pattern in _PATTERNS.items() if pattern.match(str(label).strip())), None)
        hint = f" ({label!r} is a {other}: give --period-kind {other})" if other else ""
        raise ValueError(f"a {kind} is written like {_EXAMPLES[kind]}, got {label!r}{hint}")
    year = int(match.group(1))
    if kind == "month":
        month = int(match.group(2))
        return Period(kind, f"{year}-{month:02d}", dt.date(year, month, 1), _month_start(year, month + 1))
    if kind == "quarter":
        quarter = int(match.group(2))
        first = 3 * quarter - 2
        return Period(kind, f"{year}Q{quarter}", dt.date(year, first, 1), _month_start(year, first + 3))
    return Period(kind, f"{year}", dt.date(year, 1, 1), dt.date(year + 1, 1, 1))


def containing(kind: str, day: dt.date | dt.datetime) -> Period:
    """The period of ``kind`` holding ``day`` (an aware datetime is first converted to Asia/Shanghai)."""
    if isinstance(day, dt.datetime):
        day = (day.astimezone(TIMEZONE) if day.tzinfo else day).date()
    if kind == "month":
        return parse(kind, f"{day.year}-{day.month:02d}")
    if kind == "quarter":
        return parse(kind, f"{day.year}Q{(day.month - 1) // 3 + 1}")
    return parse(kind, f"{day.year}")


def last_complete(kind: str, now: dt.datetime | None = None) -> Period:
    """The latest period of ``kind`` that has ended by ``now`` (default: the current time)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return containing(kind, now).previous()
