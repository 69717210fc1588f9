"""The tax bureau's yearly tax credit ratings (纳税信用等级 A/B/M/C/D), simulated as the Excel
workbooks it drops into the platform's file exchange area: one workbook per rating year in
``<landing root>/tax/credit_ratings/`` (a title row, then a header of the catalog labels).

:func:`write_drop` rates about :data:`RATED_SHARE` of the defect-free enterprise registrants
(credit codes 91…, 92…, 93…) established by the end of each rating year, for each of
:data:`rating_years` (default: the two years before ``as_of``: 2024 and 2025 for the demo), a
rating being kept from one year to the next with probability :data:`KEEP_RATING`. Ratings are
published in April of the following year (``evaluated_on``).

Truth: the returned :class:`TaxDrop`:

* ``defects``: (credit_code, rating_year) -> one of :data:`DEFECTS`, each quarantined:
  ``bad_credit_code`` (wrong check character), ``unknown_rating`` (not A/B/M/C/D),
  ``future_evaluated_on`` (after ``as_of``), ``duplicate_in_file`` (the key twice in one workbook
  with different ratings: both rows are quarantined);
* ``unmatched``: keys whose taxpayer is a valid enterprise code found in no base library
  (:data:`DEFAULT_UNMATCHED_RATE` of the taxpayers; they load, the cross check warns).

Truth readers: :meth:`TaxDrop.loadable` (the rows that load), :meth:`TaxDrop.match_rate`,
:meth:`TaxDrop.latest` (each loadable taxpayer's latest rating).
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook

from baselib.identifiers import credit_code
from baselib_simulators import departments
from baselib_simulators.delivery import deliver
from baselib_simulators.macro_economy import _xlsx_bytes

LANDING = "tax/credit_ratings"
HEADERS = ["统一社会信用代码", "评价年度", "纳税人名称", "纳税信用级别", "评价日期"]
ITEMS = ["credit_code", "rating_year", "taxpayer_name", "rating", "evaluated_on"]
RATINGS = {"A": 0.12, "B": 0.45, "M": 0.28, "C": 0.10, "D": 0.05}
RATED_SHARE = 0.7
KEEP_RATING = 0.6
DEFECTS = ("bad_credit_code", "unknown_rating", "future_evaluated_on", "duplicate_in_file")
DEFAULT_RATES = {"bad_credit_code": 0.004, "unknown_rating": 0.004, "future_evaluated_on": 0.003,
                 "duplicate_in_file": 0.002}
DEFAULT_UNMATCHED_RATE = 0.03

Key = tuple[str, int]


@dataclass
class TaxDrop:
    directory: Path
    files: list[Path] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)                 # every written row (defective ones too)
    defects: dict[Key, str] = field(default_factory=dict)
    unmatched: set[Key] = field(default_factory=set)

    @property
    def defect_counts(self) -> dict[str, int]:
        return departments.counts(self.defects.values())

    def loadable(self) -> list[dict]:
        """Rows (items as in the catalog: ``rating_year`` int, ``evaluated_on`` a date) that load."""
        return [r for r in self.rows if (r["credit_code"], r["rating_year"]) not in self.defects]

    def match_rate(self) -> float | None:
        """Share of loadable rows whose taxpayer is in the legal-entity base library."""
        rows = self.loadable()
        return sum((r["credit_code"], r["rating_year"]) not in self.unmatched for r in rows) / len(rows) if rows else None

    def latest(self) -> dict[str, tuple[int, str]]:
        """credit_code -> (rating_year, rating) of its latest loadable rating."""
        out: dict[str, tuple[int, str]] = {}
        for r in self.loadable():
            if r["credit_code"] not in out or r["rating_year"] > out[r["credit_code"]][0]:
                out[r["credit_code"]] = (r["rating_year"], r["rating"])
        return out


def _rating(rng: random.Random) -> str:
    return rng.choices(list(RATINGS), list(RATINGS.values()))[0]


def write_drop(root: Path, registrants: list[departments.Registrant], seed: int = 20261101,
               as_of: dt.datetime | None = None, rating_years: tuple[int, ...] | None = None,
               rates: dict[str, float] | None = None, unmatched_rate: float = DEFAULT_UNMATCHED_RATE) -> TaxDrop:
    """Write one workbook per rating year under ``root``/:data:`LANDING` (reproducible bytes,
    dated back as delivered) and return the truth."""
    as_of = as_of or dt.datetime(2026, 11, 1, tzinfo=departments.UTC)
    as_of_day = as_of.astimezone(departments.SHANGHAI).date()
    years = rating_years or (as_of_day.year - 2, as_of_day.year - 1)
    rates = dict(DEFAULT_RATES if rates is None else rates)
    rng = random.Random(f"{seed}/tax")
    fresh = departments.Fresh(rng, taken_codes=[r.credit_code for r in registrants])
    taxpayers = [(r.credit_code, r.name, r.established_on, True) for r in registrants if r.credit_code[0] == "9"]
    extra = round(len(taxpayers) * unmatched_rate / (1 - unmatched_rate)) if taxpayers else 0
    for _ in range(extra):
        taxpayers.append((fresh.enterprise_code(), fresh.company_name(fresh.county()),
                          as_of_day.replace(year=min(years) - 3), False))
    drop = TaxDrop(directory=Path(root) / LANDING)
    drop.directory.mkdir(parents=True, exist_ok=True)
    previous: dict[str, str] = {}
    for year in sorted(years):
        rows: list[dict] = []
        for code, name, established, in_base in taxpayers:
            if established.year > year or rng.random() >= RATED_SHARE:
                continue
            rating = previous[code] if code in previous and rng.random() < KEEP_RATING else _rating(rng)
            previous[code] = rating
            evaluated = dt.date(year + 1, 4, rng.randrange(1, 26))
            row = {"credit_code": code, "rating_year": year, "taxpayer_name": name, "rating": rating,
                   "evaluated_on": evaluated}
            defect = departments.draw_defect(rng, rates, DEFECTS)
            if defect == "bad_credit_code":
                row["credit_code"] = departments.wrong_check(code, credit_code.ALPHABET, rng)
            elif defect == "unknown_rating":
                row["rating"] = rng.choice("EFX")
            elif defect == "future_evaluated_on":
                row["evaluated_on"] = as_of_day + dt.timedelta(days=rng.randrange(30, 300))
            key = (row["credit_code"], year)
            if defect:
                drop.defects[key] = defect
            if not in_base:
                drop.unmatched.add(key)
            rows.append(row)
            if defect == "duplicate_in_file":  # the same key again, rated differently
                rows.append(row | {"rating": rng.choice([r for r in RATINGS if r != rating])})
        rng.shuffle(rows)
        wb = Workbook(write_only=True)      # streamed: a large drop is written in seconds
        wb.properties.creator = "省税务局"
        ws = wb.create_sheet(f"{year}年度")
        ws.append([f"{year}年度纳税信用等级评价结果"])
        ws.append(HEADERS)
        for row in rows:                    # dates become Excel date cells (yyyy-mm-dd)
            ws.append([row[item] for item in ITEMS])
        path = deliver(drop.directory / f"纳税信用等级评价结果_{year}.xlsx", _xlsx_bytes(wb))
        drop.files.append(path)
        drop.rows += rows
    return drop
