"""What the department simulators (class 3 resources) share: the base libraries' clean
registrants and people they reference, references to keys the base libraries lack, defect draws,
county authorities and front-end tables written with COPY.

The department simulators (:mod:`penalties`, :mod:`dishonest_debtors`, :mod:`tax_ratings`,
:mod:`social_insurance`) take their subjects from the population and legal-entity front-end
databases' defect-free rows (the rows that load into the base libraries), so a department row
either matches a base-library key or, on purpose and recorded in its truth table, does not.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pyarrow as pa

from baselib.identifiers import divisions
from baselib.pgcopy import copy_table
from baselib.warehouse.sqlfiles import ident
from baselib_simulators.certificates import _company_name, _fresh_citizen_id, _fresh_credit_code, make_credit_code

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc

# one-character province abbreviations (简称) used in document and case numbers
PROVINCE_ABBR = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉", "23": "黑", "31": "沪",
    "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁", "41": "豫", "42": "鄂", "43": "湘",
    "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "贵", "53": "云", "54": "藏", "61": "陕",
    "62": "甘", "63": "青", "64": "宁", "65": "新",
}


@dataclass(frozen=True)
class Registrant:
    """A defect-free row of the legal-entity front-end table (it loads into the base library)."""

    credit_code: str
    name: str
    division_code: str
    established_on: dt.date


@dataclass(frozen=True)
class Person:
    """A defect-free row of the population front-end table (it loads into the base library).

    ``updated_at`` is aware (UTC): for a deceased person (``registration_status`` 死亡) it is the
    instant the population library records the death at (see :func:`death_month`)."""

    id_number: str
    name: str
    birth_date: dt.date
    registration_status: str
    updated_at: dt.datetime


def registrants(conn) -> list[Registrant]:
    """Every defect-free registrant of ``frontend.legal_entity`` (a market-regulation front-end
    connection), in row order."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT f.credit_code, f.entity_name, f.division_code, f.established_on FROM frontend.legal_entity f "
            "WHERE NOT EXISTS (SELECT 1 FROM simulator.injected_defect d WHERE d.credit_code = f.credit_code) "
            "ORDER BY f.row_id")
        return [Registrant(*row) for row in cur.fetchall()]


def people(conn) -> list[Person]:
    """Every defect-free person of ``frontend.population_person`` (a public-security front-end
    connection), in row order."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT p.id_number, p.name, p.birth_date, p.registration_status, p.updated_at "
            "FROM frontend.population_person p "
            "WHERE NOT EXISTS (SELECT 1 FROM simulator.injected_defect d WHERE d.id_number = p.id_number) "
            "ORDER BY p.row_id")
        return [Person(*row) for row in cur.fetchall()]


def death_month(updated_at: dt.datetime) -> dt.date:
    """The first day of the month (Asia/Shanghai) of the instant a death was registered."""
    local = updated_at.astimezone(SHANGHAI)
    return dt.date(local.year, local.month, 1)


def add_months(month: dt.date, n: int) -> dt.date:
    """``month`` (a first of month) moved by ``n`` months."""
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(first: dt.date, last: dt.date) -> int:
    """Months from ``first`` to ``last`` (both firsts of month)."""
    return (last.year - first.year) * 12 + last.month - first.month


class Fresh:
    """Valid identifiers found in neither base library: references that lower a match rate on purpose."""

    def __init__(self, rng: random.Random, taken_codes=(), taken_ids=()):
        self.rng = rng
        reg = divisions.load()
        self.reg = reg
        self.counties = [d.code for d in reg.counties(in_use_only=True)]
        self._codes = set(taken_codes)
        self._ids = set(taken_ids)

    def credit_code(self) -> str:
        code = _fresh_credit_code(self.rng, self.counties, self._codes)
        self._codes.add(code)
        return code

    def enterprise_code(self) -> str:
        """A fresh enterprise code (authority 9, category 1): what taxes and penalties mostly concern."""
        while True:
            body = "".join(self.rng.choice("0123456789") for _ in range(8))
            code = make_credit_code("9", "1", self.rng.choice(self.counties), body)
            if code not in self._codes:
                self._codes.add(code)
                return code

    def citizen_id(self, as_of: dt.date, *, min_age: int = 18) -> str:
        while True:
            number = _fresh_citizen_id(self.rng, self.counties, as_of, self._ids)
            born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
            if (as_of - born).days >= min_age * 366:
                self._ids.add(number)
                return number

    def company_name(self, county: str) -> str:
        return _company_name(self.rng, self.reg, county)

    def county(self) -> str:
        return self.rng.choice(self.counties)


def county_label(reg, county: str) -> str:
    """``南昌市东湖区`` for 360102: the prefecture (or province) name followed by the county's."""
    upper = reg.name(county[:4] + "00") or reg.name(county[:2] + "0000") or ""
    own = reg.name(county) or ""
    return own if upper == own else upper + own


def county_authority(reg, county: str, department: str, dept_no: str) -> tuple[str, str]:
    """(name, credit code) of ``department`` of ``county`` (authority 1 编制, category 1 机关), built
    as the certificate simulator builds its issuers: ``dept_no`` 11 is 市场监督管理局."""
    return f"{county_label(reg, county)}{department}", make_credit_code("1", "1", county, dept_no + county)


def wrong_check(code: str, alphabet: str, rng: random.Random) -> str:
    """``code`` with its last (check) character replaced by another of ``alphabet``."""
    return code[:-1] + rng.choice([c for c in alphabet if c != code[-1]])


def draw_defect(rng: random.Random, rates: dict[str, float], kinds: tuple[str, ...]) -> str | None:
    """At most one defect of ``kinds`` for a row, each with its rate."""
    draw, edge = rng.random(), 0.0
    for kind in kinds:
        edge += rates.get(kind, 0.0)
        if draw < edge:
            return kind
    return None


def local_time(day: dt.date, rng: random.Random, lo_hour: int = 8, hi_hour: int = 18) -> dt.datetime:
    """An instant during office hours of ``day`` in Asia/Shanghai, as UTC."""
    seconds = rng.randrange(lo_hour * 3600, hi_hour * 3600)
    return (dt.datetime.combine(day, dt.time(), SHANGHAI) + dt.timedelta(seconds=seconds)).astimezone(UTC)


def copy_rows(cur, table: str, schema: dict[str, pa.DataType], rows: list[dict]) -> int:
    """COPY ``rows`` (dicts keyed by the names of ``schema``) into ``table``; returns the count."""
    columns = list(schema)
    arrow = pa.table({c: pa.array([r.get(c) for r in rows], schema[c]) for c in columns})
    return copy_table(cur, arrow, ident(table), columns)


def counts(labels) -> dict[str, int]:
    out: dict[str, int] = {}
    for label in labels:
        if label:
            out[label] = out.get(label, 0) + 1
    return dict(sorted(out.items()))


TS = pa.timestamp("us", tz="UTC")
