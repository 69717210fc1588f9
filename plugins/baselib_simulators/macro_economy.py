"""The statistics bureau's spreadsheet file drops (宏观经济 · 统计指标), simulated.

:func:`write_drop` writes, under a landing root:

* ``statistics/indicator/indicators.csv`` (GBK, Chinese headers): the indicator catalogue
  :data:`INDICATORS`;
* ``statistics/indicator_value/``: values per region (each province and its in-use prefectures
  from the GB/T 2260 reference) and period, in the shapes a bureau really sends:

  ==============================  =========  ==================================================
  ``gdp_annual_long.csv``         GBK        long, Chinese headers; A0201 for the last 5 years,
                                             some periods written ``2024年``
  ``gdp_quarterly_wide.xlsx``     xlsx       wide, one column per quarter; A0201
  ``population_annual_wide.csv``  GB18030    wide, item-name headers; A0301
  ``retail_monthly_long.xlsx``    xlsx       sheet 零售: A0401 monthly (``2026-10``);
                                             sheet 价格: A0501 CPI, provinces only (``2026年10月``)
  ==============================  =========  ==================================================

Additive indicators add up: a province's value is the exact sum of its prefectures' values
(2 decimals). Periods follow ``as_of``: the last 5 full years, quarters from January of the
previous year, months up to the last full month.

Known defects (:data:`DEFECTS`, one record each) and warning-level anomalies
(:data:`WARNINGS`, loaded) are returned in the :class:`MacroDrop` manifest by key
``(indicator_code, region_code, period)``, the period normalised (``2025``, ``2025Q3``,
``2025-10``) unless it cannot be (then as written). Two files cannot be read at all
(``broken.xlsx``, ``wrong_encoding.csv``). Everything derives from the seed: same arguments,
same bytes. Files are dated as delivered (:mod:`baselib_simulators.delivery`), so a run takes
them at once.
"""
from __future__ import annotations

import csv
import io
import random
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
from openpyxl import Workbook

from baselib.identifiers import divisions
from baselib_simulators.delivery import date_back, deliver

INDICATOR_LANDING = "statistics/indicator"
VALUE_LANDING = "statistics/indicator_value"

# code, name, unit, additive, frequency
INDICATORS = [
    ("A0201", "地区生产总值", "亿元", True, "年/季"),
    ("A0301", "年末常住人口", "万人", True, "年"),
    ("A0401", "社会消费品零售总额", "亿元", True, "月"),
    ("A0501", "居民消费价格指数", "上年=100", False, "月"),
    ("A0601", "规模以上工业增加值增速", "%", False, "月"),
]
UNITS = {code: unit for code, _, unit, _, _ in INDICATORS}
INDICATOR_HEADERS = ["指标代码", "指标名称", "计量单位", "可加总", "统计频率"]
LONG_ITEMS = ["indicator_code", "region_code", "period", "value", "unit"]
LONG_LABELS = ["指标代码", "地区代码", "时期", "数值", "计量单位"]

DEFECTS = ("bad_period", "future_period", "unknown_region", "non_numeric", "unit_mismatch",
           "duplicate_in_delivery")
WARNINGS = ("yoy_outlier", "province_mismatch")
REJECTED = {"broken.xlsx": "truncated", "wrong_encoding.csv": "encoding"}

YOY_OUTLIER_FACTOR = 2.5
PROVINCE_MISMATCH_FACTOR = 1.15
SEASON = [1.10, 0.92, 0.95, 0.96, 1.00, 1.02, 0.97, 0.98, 1.00, 1.05, 1.00, 1.10]   # retail, Jan..Dec
QUARTER_SHARE = [0.225, 0.245, 0.25, 0.28]
FIXED_TIME = (2026, 1, 1, 0, 0, 0)   # zip member times and workbook properties: reproducible bytes

Key = tuple[str, str, str]


@dataclass
class MacroDrop:
    indicator_dir: Path
    value_dir: Path
    defects: dict[str, list[Key]] = field(default_factory=dict)
    warnings: dict[str, list[tuple]] = field(default_factory=dict)
    rows_clean: int = 0                      # value records that should load
    rows_total: int = 0                      # records the engine reads (long rows + non-empty wide cells)
    rejected_files: dict[str, str] = field(default_factory=dict)
    wide_expected: list[tuple[str, str, str, str]] = field(default_factory=list)  # gdp_quarterly_wide.xlsx
    indicators: int = 0


# --- small helpers ------------------------------------------------------------------------------
def _text(cents: int) -> str:
    """Cents as a 2-decimal number text."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _cents(text: str) -> int:
    return int((Decimal(text.strip()) * 100).to_integral_value())


def _grow(cents: int, rng: random.Random, lo: float, hi: float) -> int:
    return round(cents * (1 + rng.uniform(lo, hi)))


def _province(code: str) -> str:
    return code[:2] + "0000"


def _csv_bytes(rows: list[list], encoding: str) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode(encoding)


def _xlsx_bytes(wb: Workbook) -> bytes:
    """The workbook as xlsx bytes that do not depend on the clock (openpyxl stamps 'now' into
    docProps/core.xml and zip member times)."""
    buf = io.BytesIO()
    wb.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z", data)
            dst.writestr(zipfile.ZipInfo(info.filename, FIXED_TIME), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _regions(ref: divisions.DivisionCodes, provinces) -> dict[str, list[str]]:
    """Province code -> its in-use prefecture codes (level 地级), sorted."""
    prefectures = sorted({r.code for rs in ref.by_code.values() for r in rs if r.in_use and r.level == "地级"})
    return {p: [c for c in prefectures if c[:2] == p[:2]] for p in provinces}


def _unknown_region(ref: divisions.DivisionCodes, province: str) -> str:
    """A prefecture-shaped code (XX99YY, from XX9900 up) the reference has never held."""
    for n in range(100):
        code = f"{province[:2]}99{n:02d}"
        if code not in ref.by_code:
            return code
    raise ValueError(f"no unused region code in province {province}")


def _months_before(as_of: date, first_year: int) -> list[tuple[int, int]]:
    """(year, month) from January of ``first_year`` to the last full month before ``as_of``."""
    out, y, m = [], first_year, 1
    while (y, m) < (as_of.year, as_of.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _with_totals(values: dict, regions: dict[str, list[str]]) -> None:
    """Set each province's value per period to the sum of its prefectures' (in place).
    ``values``: region -> {period: cents}. Provinces without prefectures keep their own."""
    for province, prefectures in regions.items():
        if prefectures:
            periods = values[prefectures[0]]
            values[province] = {p: sum(values[c][p] for c in prefectures) for p in periods}


def _additive_series(rng, regions, periods, base: tuple[int, int], growth: tuple[float, float]) -> dict:
    """region -> {period: cents} for one additive series of consecutive ``periods``."""
    values = {}
    for province, prefectures in regions.items():
        for code in prefectures or [province]:
            cents = rng.randint(*base) * 100 + rng.randint(0, 99)
            values[code] = {}
            for period in periods:
                values[code][period] = cents
                cents = _grow(cents, rng, *growth)
    _with_totals(values, regions)
    return values


# --- the drop -----------------------------------------------------------------------------------
def write_indicators(root: Path) -> Path:
    """``statistics/indicator/indicators.csv`` (GBK) and its directory."""
    directory = Path(root) / INDICATOR_LANDING
    directory.mkdir(parents=True, exist_ok=True)
    rows = [INDICATOR_HEADERS] + [[c, n, u, "是" if a else "否", f] for c, n, u, a, f in INDICATORS]
    deliver(directory / "indicators.csv", _csv_bytes(rows, "gbk"))
    return directory


def write_drop(root: Path, seed: int = 20261101, provinces=("360000", "430000"), defects: bool = True,
               as_of: date = date(2026, 11, 1), bench_bytes: int | None = None) -> MacroDrop:
    """Write the indicator catalogue and the value files of ``provinces`` under ``root`` and
    return the manifest. ``bench_bytes=N`` is the benchmark mode: the catalogue and only
    ``bench_long.csv`` of at least N bytes (see :func:`_write_bench`)."""
    root = Path(root)
    drop = MacroDrop(indicator_dir=write_indicators(root), value_dir=root / VALUE_LANDING,
                     indicators=len(INDICATORS))
    drop.value_dir.mkdir(parents=True, exist_ok=True)
    ref = divisions.load()
    if bench_bytes is not None:
        return _write_bench(drop, ref, seed, as_of, bench_bytes)
    rng = random.Random(f"{seed}/macro")
    regions = _regions(ref, provinces)
    order = [code for p in provinces for code in [p] + regions[p]]
    first, last = provinces[0], provinces[-1]
    first_prefs = regions[first] or [first]
    drop.defects = {k: [] for k in DEFECTS} if defects else {}
    drop.warnings = {k: [] for k in WARNINGS} if defects else {}

    years = [str(y) for y in range(as_of.year - 5, as_of.year)]
    quarters = [f"{y}Q{q}" for y, m in _months_before(as_of, as_of.year - 1) if m % 3 == 0 for q in [m // 3]]
    months = _months_before(as_of, as_of.year - 1)
    month_text = [f"{y}-{m:02d}" for y, m in months]

    # --- GDP, annual, long CSV (GBK, Chinese headers) ---
    gdp = _additive_series(rng, regions, years, (300, 8000), (0.03, 0.09))
    if defects:
        gdp[first][years[2]] = round(gdp[first][years[2]] * PROVINCE_MISMATCH_FACTOR)
        drop.warnings["province_mismatch"].append(("A0201", first, years[2]))
    rows = []
    for n, code in enumerate(order):
        for year in years:
            period = f"{year}年" if year == years[3] and n % 2 == 0 else year
            rows.append(["A0201", code, period, _text(gdp[code][year]), "亿元"])
    if defects:
        index = {(r[1], r[2].rstrip("年")): r for r in rows}
        bad = index[(last, years[1])]                      # a province total reported in 万元
        bad[3], bad[4] = _text(_cents(bad[3]) * 10_000), "万元"
        drop.defects["unit_mismatch"].append(("A0201", last, years[1]))
        twin = index[(last, years[3])]                     # the same key twice, different values
        rows.insert(rows.index(twin) + 1, twin[:3] + [_text(_grow(_cents(twin[3]), rng, 0.01, 0.05)), "亿元"])
        drop.defects["duplicate_in_delivery"].append(("A0201", last, years[3]))
        code = rng.choice(first_prefs)
        bad_period = f"{years[-1]}Q5"
        rows.insert(rng.randrange(len(rows)), ["A0201", code, bad_period, _text(gdp[code][years[-1]] // 4), "亿元"])
        drop.defects["bad_period"].append(("A0201", code, bad_period))
    deliver(drop.value_dir / "gdp_annual_long.csv", _csv_bytes([LONG_LABELS] + rows, "gbk"))
    drop.rows_total += len(rows)

    # --- GDP, quarterly, wide xlsx ---
    gdp_q = {}
    for code in [c for p in provinces for c in regions[p] or [p]]:
        base = gdp[code][years[-1]]
        gdp_q[code] = {}
        for i, quarter in enumerate(quarters):
            prior = quarters[i - 4] if i >= 4 else None
            share = QUARTER_SHARE[int(quarter[-1]) - 1] * rng.uniform(0.97, 1.03)
            gdp_q[code][quarter] = _grow(gdp_q[code][prior], rng, 0.03, 0.09) if prior else round(base * share)
    _with_totals(gdp_q, regions)
    wb = Workbook()
    wb.properties.creator = "省统计局"
    ws = wb.active
    ws.title = "地区生产总值"
    ws.append(["指标代码", "地区代码", "地区名称", "计量单位"] + quarters)
    for code in order:
        ws.append(["A0201", code, ref.name(code), "亿元"] + [gdp_q[code][q] / 100 for q in quarters])
        drop.wide_expected += [("A0201", code, q, _text(gdp_q[code][q])) for q in quarters]
    wide_bytes = _xlsx_bytes(wb)
    deliver(drop.value_dir / "gdp_quarterly_wide.xlsx", wide_bytes)
    drop.rows_total += len(drop.wide_expected)

    # --- population, annual, wide CSV (GB18030, item names) ---
    population = _additive_series(rng, regions, years, (100, 900), (-0.01, 0.012))
    future = str(as_of.year + 1)
    future_region = rng.choice(first_prefs) if defects else None
    header = ["indicator_code", "region_code", "unit"] + years + ([future] if defects else [])
    rows = []
    for code in order:
        row = ["A0301", code, "万人"] + [_text(population[code][y]) for y in years]
        if defects:
            row.append(_text(_grow(population[code][years[-1]], rng, 0, 0.01)) if code == future_region else "")
        rows.append(row)
    if defects:
        drop.defects["future_period"].append(("A0301", future_region, future))
    deliver(drop.value_dir / "population_annual_wide.csv", _csv_bytes([header] + rows, "gb18030"))
    drop.rows_total += len(order) * len(years) + (1 if defects else 0)

    # --- retail (A0401) and CPI (A0501), monthly, long xlsx with two sheets ---
    retail = {}
    for code in [c for p in provinces for c in regions[p] or [p]]:
        annual = gdp[code][years[-1]] * rng.uniform(0.35, 0.45)
        retail[code] = {}
        for i, (y, m) in enumerate(months):
            text = month_text[i]
            retail[code][text] = (_grow(retail[code][month_text[i - 12]], rng, 0.03, 0.09) if i >= 12
                                  else round(annual / 12 * SEASON[m - 1] * rng.uniform(0.98, 1.02)))
    _with_totals(retail, regions)
    if defects:   # one prefecture's last month x2.5 year on year; its province total moves with it
        last_month, year_before = month_text[-1], month_text[-13]
        code = min(first_prefs, key=lambda c: retail[c][last_month])
        delta = round(retail[code][year_before] * YOY_OUTLIER_FACTOR) - retail[code][last_month]
        retail[code][last_month] += delta
        if code != first:
            retail[first][last_month] += delta
        drop.warnings["yoy_outlier"].append(("A0401", code, last_month))
    wb = Workbook()
    wb.properties.creator = "省统计局"
    ws = wb.active
    ws.title = "零售"
    ws.append(LONG_ITEMS)
    sales = [["A0401", code, t, retail[code][t] / 100, "亿元"] for code in order for t in month_text]
    if defects:
        code = _unknown_region(ref, first)
        sales.insert(rng.randrange(len(sales)), ["A0401", code, month_text[-1], sales[0][3], "亿元"])
        drop.defects["unknown_region"].append(("A0401", code, month_text[-1]))
    for row in sales:
        ws.append(row)
    prices = wb.create_sheet("价格")
    prices.append(LONG_LABELS)
    cpi = [["A0501", p, f"{y}年{m}月", round(rng.uniform(99.5, 103.0), 2), "上年=100"]
           for p in provinces for y, m in months]
    if defects:
        i = rng.randrange(len(cpi))
        cpi[i][3] = "—"
        y, m = months[i % len(months)]
        drop.defects["non_numeric"].append(("A0501", cpi[i][1], f"{y}-{m:02d}"))
    for row in cpi:
        prices.append(row)
    deliver(drop.value_dir / "retail_monthly_long.xlsx", _xlsx_bytes(wb))
    drop.rows_total += len(sales) + len(cpi)

    drop.rows_clean = drop.rows_total - sum(len(keys) for keys in drop.defects.values())
    if defects:
        drop.rows_clean -= len(drop.defects["duplicate_in_delivery"])   # both copies are quarantined
        _write_unreadable(drop, wide_bytes, rng)
    return drop


def _write_unreadable(drop: MacroDrop, xlsx: bytes, rng: random.Random) -> None:
    """``broken.xlsx`` (the first half of a real workbook) and ``wrong_encoding.csv`` (bytes that
    are valid in neither UTF-8 nor GBK nor GB18030)."""
    deliver(drop.value_dir / "broken.xlsx", xlsx[: len(xlsx) // 2])
    body = b"indicator_code,region_code,period,value,unit\r\n"
    for _ in range(20):
        noise = bytes(rng.randrange(0x80, 0x100) for _ in range(6))
        body += b"A0201,360100,2025," + noise + b"\x81\x20" + noise[::-1] + b"\r\n"
    deliver(drop.value_dir / "wrong_encoding.csv", body)
    drop.rejected_files.update(REJECTED)


def _write_bench(drop: MacroDrop, ref, seed: int, as_of: date, size: int) -> MacroDrop:
    """``bench_long.csv`` (GBK, long, Chinese headers) of at least ``size`` bytes: every in-use
    province and prefecture, month by month backwards from the last full month before ``as_of``:
    A0401, A0501 and A0601 monthly, A0201 quarterly at quarter ends and annual with A0301 in
    December. Additive values of provinces with prefectures are their exact sums; keys are unique.
    Raises ValueError when even a century of months is not enough."""
    provinces = sorted({r.code for rs in ref.by_code.values() for r in rs if r.in_use and r.level == "省级"})
    regions = _regions(ref, provinces)
    codes = [c for p in provinces for c in [p] + regions[p]]
    leaf = np.array([not (c in regions and regions[c]) for c in codes])       # not a summed province
    parent = np.array([codes.index(_province(c)) for c in codes])
    rng = np.random.default_rng([seed, 4401])
    n = len(codes)
    base_retail = rng.uniform(30, 400, n)        # 亿元 per month
    base_gdp = rng.uniform(300, 8000, n)         # 亿元 per year
    base_pop = rng.uniform(100, 900, n)          # 万人

    def additive(values: np.ndarray) -> np.ndarray:
        cents = np.where(leaf, np.round(values * 100), 0).astype(np.int64)
        sums = np.zeros(n, dtype=np.int64)
        np.add.at(sums, parent[leaf], cents[leaf])
        return np.where(leaf, cents, sums)

    def lines(indicator: str, period: str, cents: np.ndarray) -> str:
        unit = UNITS[indicator]
        return "".join(f"{indicator},{c},{period},{_text(int(v))},{unit}\r\n" for c, v in zip(codes, cents))

    written = 0
    y, m = (as_of.year, as_of.month - 1) if as_of.month > 1 else (as_of.year - 1, 12)
    with (drop.value_dir / "bench_long.csv").open("wb") as fh:
        fh.write((",".join(LONG_LABELS) + "\r\n").encode("gbk"))
        written = fh.tell()
        while written < size:
            if y < as_of.year - 100:
                raise ValueError(f"bench_bytes={size} needs more than a century of months")
            years_back = (as_of.year - y) + (as_of.month - m) / 12
            trend = 1.06 ** -years_back
            noise = rng.uniform(0.98, 1.02, (3, n))
            block = [
                lines("A0401", f"{y}-{m:02d}", additive(base_retail * SEASON[m - 1] * trend * noise[0])),
                lines("A0501", f"{y}-{m:02d}", np.round(rng.uniform(99.5, 103.0, n) * 100)),
                lines("A0601", f"{y}-{m:02d}", np.round(rng.uniform(2, 9, n) * 100)),
            ]
            if m % 3 == 0:
                block.append(lines("A0201", f"{y}Q{m // 3}",
                                   additive(base_gdp * QUARTER_SHARE[m // 3 - 1] * trend * noise[1])))
            if m == 12:
                block.append(lines("A0201", str(y), additive(base_gdp * trend * noise[2])))
                block.append(lines("A0301", str(y), additive(base_pop * 1.003 ** -years_back)))
            text = "".join(block)
            fh.write(text.encode("gbk"))
            written = fh.tell()
            drop.rows_total += text.count("\n")
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    date_back(drop.value_dir / "bench_long.csv")
    drop.rows_clean = drop.rows_total
    return drop


# --- revisions ----------------------------------------------------------------------------------
def write_revision(root: Path, drop: MacroDrop, seed: int) -> list[tuple[str, str, str, str]]:
    """Overwrite ``gdp_annual_long.csv`` under the same name with the same rows except three clean
    prefecture records with revised values (+0.5 % to +3 %) and their provinces' totals revised by
    the same amounts, so the sums still hold. Returns every changed record as
    ``(indicator_code, region_code, period, new value text)``: prefectures first, then provinces."""
    path = Path(root) / VALUE_LANDING / "gdp_annual_long.csv"
    header, *rows = list(csv.reader(io.StringIO(path.read_bytes().decode("gbk"))))
    flagged = {tuple(k[:3]) for keys in list(drop.defects.values()) + list(drop.warnings.values()) for k in keys}

    def key(row) -> Key:
        period = row[2].strip().removesuffix("年")
        return row[0], row[1], period if period.isdigit() and len(period) == 4 else row[2]

    count: dict[Key, int] = {}
    for row in rows:
        count[key(row)] = count.get(key(row), 0) + 1
    by_key = {key(r): r for r in rows}

    def clean(k: Key) -> bool:
        return k in by_key and count[k] == 1 and k not in flagged and by_key[k][4] == UNITS[k[0]]

    candidates = [k for k in by_key if k[1] != _province(k[1]) and clean(k) and clean((k[0], _province(k[1]), k[2]))]
    rng = random.Random(f"{seed}/revision")
    changed, provinces = [], {}
    for k in rng.sample(candidates, 3):
        row = by_key[k]
        old = _cents(row[3])
        new = _grow(old, rng, 0.005, 0.03)
        row[3] = _text(new)
        changed.append((*k, row[3]))
        total = (k[0], _province(k[1]), k[2])
        provinces[total] = provinces.get(total, 0) + new - old
    for total, delta in provinces.items():
        row = by_key[total]
        row[3] = _text(_cents(row[3]) + delta)
        changed.append((*total, row[3]))
    revised = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) + timedelta(days=1)
    deliver(path, _csv_bytes([header] + rows, "gbk"), at=revised)  # delivered a day after the file it revises
    return changed
