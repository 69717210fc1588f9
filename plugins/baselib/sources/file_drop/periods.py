"""Statistical periods: annual ``2025``, quarterly ``2025Q3``, monthly ``2025-10``.

Bureaus write them in several ways (``2025年``, ``2025 Q3``, ``2025年第三季度``, ``2025年10月``,
``2025/10``, ``202510``, or an Excel date for a month). :func:`parse` normalises each to the
canonical text plus a type (Y, Q, M) and the first and last day of the period. Text that is not
a period keeps its original form with no type, and the suite quarantines the row.
:func:`combine` reads a two-row header (a year over its quarters or months).
"""
from __future__ import annotations

import calendar
import functools
import datetime as dt
import re
from dataclasses import dataclass

_QUARTER_WORDS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_ANNUAL = re.compile(r"^(\d{4})\s*年?(?:度)?$")
_QUARTERLY = re.compile(r"^(\d{4})\s*(?:[Qq]\s*([1-4])|年\s*第?\s*([1-4一二三四])\s*季度?)$")
_MONTHLY = re.compile(r"^(\d{4})\s*(?:[-/.]\s*(\d{1,2})|年\s*(\d{1,2})\s*月(?:份)?|(\d{2}))$")
_FIRST_YEAR, _LAST_YEAR = 1949, 2100
_WHOLE_YEAR = ("全年", "年度", "全年合计")


@dataclass(frozen=True)
class Period:
    text: str                  # canonical: 2025, 2025Q3, 2025-10
    type: str                  # Y, Q or M
    start: dt.date
    end: dt.date


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def parse(value) -> Period | None:
    """The period ``value`` denotes, or None. Accepts text, an int year, or a date (a month)."""
    if isinstance(value, str):
        return _parse_text(value)  # a file repeats few distinct periods: cached
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return monthly(value.year, value.month)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    return _parse_text(value)


@functools.lru_cache(maxsize=4096)
def _parse_text(value: str) -> Period | None:
    text = value.strip()
    if m := _ANNUAL.match(text):
        year = int(m.group(1))
        return Period(f"{year}", "Y", dt.date(year, 1, 1), dt.date(year, 12, 31)) if _plausible(year) else None
    if m := _QUARTERLY.match(text):
        year, quarter = int(m.group(1)), _QUARTER_WORDS[m.group(2) or m.group(3)]
        if not _plausible(year):
            return None
        first = 3 * quarter - 2
        return Period(f"{year}Q{quarter}", "Q", dt.date(year, first, 1), _month_end(year, first + 2))
    if m := _MONTHLY.match(text):
        month = int(m.group(2) or m.group(3) or m.group(4))
        return monthly(int(m.group(1)), month)
    return None


def combine(year, part: str) -> Period | None:
    """The period a two-row header names: a year (``2024年``, ``2024``) over a part of it
    (``一季度``, ``第二季度``, ``3季度``, ``Q4``, ``10月``; ``全年`` / ``年度`` is the year itself).
    None when ``year`` is not a year or ``part`` is not a quarter or month (``上半年``, ``累计``)."""
    found = parse(year)
    if found is None or found.type != "Y":
        return None
    part = part.strip()
    if part in _WHOLE_YEAR:
        return found
    combined = _parse_text(f"{found.text}年{part}") or _parse_text(f"{found.text}{part}")
    return combined if combined is not None and combined.type != "Y" else None


def monthly(year: int, month: int) -> Period | None:
    if not (_plausible(year) and 1 <= month <= 12):
        return None
    return Period(f"{year}-{month:02d}", "M", dt.date(year, month, 1), _month_end(year, month))


def _plausible(year: int) -> bool:
    return _FIRST_YEAR <= year <= _LAST_YEAR

