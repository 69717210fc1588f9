"""Row checks that need more than the row: other base libraries, or the whole extract plus
the warehouse's current values.

The engine computes one evidence column per check (``_check__<name>``: True, False, or NULL
when the check does not apply) and the suite holds a catalog-derived expectation that the
evidence is True, with the check's severity and reason. So the rule's outcome lands in the GX
report and in quarantine like any other expectation, while the lookups run once per run.

Kinds (``pipeline.context_checks`` in the catalog):
- ``reference_match``: the combination of values exists in another table's live rows.
- ``point_in_polygon``: a point lies inside the polygon of the reference row it names.
- ``year_over_year``: the change against the same period a year earlier stays within a band.
- ``province_total``: a province's value equals the sum of its prefectures' within a tolerance.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from psycopg2 import sql

from baselib import storage
from baselib.catalog.model import (
    PointInPolygon, ProvinceTotal, ReferenceMatch, Resource, YearOverYear,
)
from baselib.identifiers import divisions
from baselib.validation.suites import context_check_column
from baselib.warehouse import sqlfiles

log = logging.getLogger(__name__)
MUNICIPALITIES = {"110000", "120000", "310000", "500000"}


def _table_exists(conn, qualified: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,))
        return cur.fetchone()[0]


def _read(parts: list[str], columns: list[str]) -> pd.DataFrame:
    tables = [storage.read_part(uri, columns) for uri in parts]
    return pa.concat_tables(tables).to_pandas() if tables else pd.DataFrame(columns=columns)


def _text(values) -> list:
    """Values as text (dates in ISO form), missing ones as None: plain lists, for per-row lookups."""
    values = values.tolist() if hasattr(values, "tolist") else list(values)
    if all(v is None or type(v) is str for v in values):
        return values
    return [None if v is None or v != v else (v.isoformat() if hasattr(v, "isoformat") else str(v)) for v in values]


def _text_rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return list(zip(*(_text(frame[c]) for c in columns))) if len(frame) else []


def _as_text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(_text(frame[c]), index=frame.index, dtype=object) for c in columns},
                        index=frame.index)


def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


# --- reference_match -----------------------------------------------------------------------------
class _ReferenceMatch:
    def __init__(self, check: ReferenceMatch, conn, parts: list[str], blocking: list):
        self.check = check
        self.matched: set[tuple] | None = None
        if not _table_exists(conn, check.reference):
            if check.severity == "critical":
                blocking.append((check.name, f"the reference table {check.reference} does not exist: "
                                             f"load it before this resource"))
            return
        values = _as_text(_read(parts, check.columns), check.columns).dropna().drop_duplicates()
        arrays = [values[c].tolist() for c in check.columns]
        cols = [sql.SQL("{}::text").format(sql.Identifier(c)) for c in check.reference_columns]
        query = sql.SQL("SELECT DISTINCT {cols} FROM {ref} WHERE _deleted_at IS NULL AND ({cols}) IN "
                        "(SELECT * FROM unnest({arrays}))").format(
            cols=sql.SQL(", ").join(cols), ref=sqlfiles.ident(check.reference),
            arrays=sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in arrays))
        with conn.cursor() as cur:
            cur.execute(query, arrays)
            self.matched = {tuple(r) for r in cur.fetchall()}

    def evidence(self, frame: pd.DataFrame) -> pd.Series:
        if self.matched is None:
            return _series([None] * len(frame), frame)
        return _series([None if None in key else key in self.matched
                        for key in _text_rows(frame, self.check.columns)], frame)


# --- point_in_polygon ----------------------------------------------------------------------------
class _PointInPolygon:
    def __init__(self, check: PointInPolygon, conn, parts: list[str], blocking: list):
        import shapely

        from baselib.geometry import shapes

        self.check = check
        self.polygons: dict[str, object] = {}
        if not _table_exists(conn, check.reference):
            if check.severity == "critical":
                blocking.append((check.name, f"the reference table {check.reference} does not exist: "
                                             f"load it before this resource"))
            return
        keys = _as_text(_read(parts, [check.via]), [check.via])[check.via].dropna().unique().tolist()
        query = sql.SQL("SELECT {key}::text, encode({geom}, 'hex') FROM {ref} "
                        "WHERE _deleted_at IS NULL AND {key}::text = ANY(%s)").format(
            key=sql.Identifier(check.reference_key), geom=sql.Identifier(check.reference_geometry),
            ref=sqlfiles.ident(check.reference))
        with conn.cursor() as cur:
            cur.execute(query, (keys,))
            rows = cur.fetchall()
        geoms = shapes.from_wkb_hex([r[1] for r in rows])
        shapely.prepare(geoms[pd.notna(geoms)])
        self.polygons = {key: g for (key, _), g in zip(rows, geoms) if g is not None}
        unknown = len(set(keys) - self.polygons.keys())
        if unknown:
            log.warning("%s: %d %s values have no polygon in %s; their points are not checked",
                        check.name, unknown, check.via, check.reference)

    def evidence(self, frame: pd.DataFrame) -> pd.Series:
        import shapely

        from baselib.geometry import shapes

        out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        if not self.polygons or frame.empty:
            return out
        points = shapes.from_wkb_hex(frame[self.check.column])
        via = frame[self.check.via].astype("string").fillna("").tolist()
        polygons = np.array([self.polygons.get(v) for v in via], dtype=object)
        applicable = pd.notna(points) & pd.notna(polygons)
        if applicable.any():
            inside = shapely.covers(polygons[applicable], points[applicable])
            out[applicable] = inside.tolist()
        return out


# --- shared by year_over_year and province_total ---------------------------------------------------
def _values(conn, resource: Resource, parts: list[str], columns: list[str], value: str) -> pd.DataFrame:
    """Rows of this extract plus the warehouse's live rows of the same series (the extract wins),
    as text key columns and a float ``value`` column."""
    wanted = list(dict.fromkeys(columns + [value]))
    extract = _read(parts, wanted)
    frame = _as_text(extract, columns).assign(_value=_numbers(extract[value]))
    target = resource.pipeline.target.qualified
    if _table_exists(conn, target) and len(frame):
        first = columns[0]
        query = sql.SQL("SELECT {cols}, {value}::text FROM {table} WHERE _deleted_at IS NULL AND {first}::text = ANY(%s)"
                        ).format(cols=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns),
                                 value=sql.Identifier(value), table=sqlfiles.ident(target),
                                 first=sql.Identifier(first))
        with conn.cursor() as cur:
            cur.execute(query, (frame[first].dropna().unique().tolist(),))
            stored = pd.DataFrame(cur.fetchall(), columns=columns + ["_raw"])
        stored = stored.assign(_value=_numbers(stored.pop("_raw")))
        frame = pd.concat([frame, stored], ignore_index=True)
    return frame.dropna(subset=columns).drop_duplicates(subset=columns, keep="first")


def _lookup(values: pd.DataFrame, keys: list[str]) -> dict[tuple, float]:
    return dict(zip(zip(*(values[k].tolist() for k in keys)), values["_value"].tolist()))


def _flagged(conn, flag) -> set[str] | None:
    """Values the check applies to (``only_if_flag``); None when every row applies."""
    if flag is None:
        return None
    if not _table_exists(conn, flag.reference):
        return set()
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {col}::text FROM {ref} WHERE _deleted_at IS NULL AND {flag}").format(
            col=sql.Identifier(flag.reference_column), ref=sqlfiles.ident(flag.reference),
            flag=sql.Identifier(flag.flag)))
        return {r[0] for r in cur.fetchall()}


def _applies(frame: pd.DataFrame, check, flagged: set[str] | None) -> list[bool]:
    if flagged is None:
        return [True] * len(frame)
    return [v in flagged for v in _text(frame[check.only_if_flag.column])]


def _series(values: list, frame: pd.DataFrame) -> pd.Series:
    return pd.Series(values, index=frame.index, dtype=object)


# --- year_over_year --------------------------------------------------------------------------------
class _YearOverYear:
    def __init__(self, check: YearOverYear, conn, resource: Resource, parts: list[str]):
        self.check = check
        self.keys = [*check.series, check.period_type, check.period_start]
        values = _values(conn, resource, parts, self.keys, check.value)
        self.lookup = _lookup(values, self.keys)
        self.flagged = _flagged(conn, check.only_if_flag)

    def evidence(self, frame: pd.DataFrame) -> pd.Series:
        check = self.check
        series = _text_rows(frame, list(check.series) + [check.period_type])
        starts = _text(frame[check.period_start])
        out = []
        for key, start, value, applies in zip(series, starts, _numbers(frame[check.value]).tolist(),
                                              _applies(frame, check, self.flagged)):
            prior = None
            if applies and start is not None and value == value and None not in key:
                prior = self.lookup.get((*key, f"{int(start[:4]) - 1:04d}{start[4:]}"))
            out.append(None if prior is None or prior != prior or prior == 0
                       else bool(abs(value / prior - 1) <= check.max_change))
        return _series(out, frame)


# --- province_total --------------------------------------------------------------------------------
class _ProvinceTotal:
    def __init__(self, check: ProvinceTotal, conn, resource: Resource, parts: list[str]):
        self.check = check
        self.keys = [*check.group, check.region]
        values = _values(conn, resource, parts, self.keys, check.value)
        self.lookup = _lookup(values, self.keys)
        registry = divisions.load()
        self.prefectures: dict[str, list[str]] = {}
        for code, rows in registry.by_code.items():
            if code.endswith("00") and not code.endswith("0000") and any(r.in_use and r.level == "地级" for r in rows):
                self.prefectures.setdefault(code[:2] + "0000", []).append(code)
        self.flagged = _flagged(conn, check.only_if_flag)

    def evidence(self, frame: pd.DataFrame) -> pd.Series:
        check = self.check
        groups = _text_rows(frame, list(check.group))
        out = []
        for group, region, value, applies in zip(groups, _text(frame[check.region]),
                                                 _numbers(frame[check.value]).tolist(),
                                                 _applies(frame, check, self.flagged)):
            out.append(self._compare(group, region, value) if applies else None)
        return _series(out, frame)

    def _compare(self, group: list, region, value: float) -> bool | None:
        if region is None or not region.endswith("0000") or region in MUNICIPALITIES or value != value:
            return None
        children = self.prefectures.get(region)
        if not children or None in group:
            return None
        parts = [self.lookup.get((*group, child)) for child in children]
        if any(p is None or p != p for p in parts):
            return None  # not every prefecture has a value yet: nothing to compare
        return bool(abs(value - sum(parts)) <= self.check.tolerance * max(abs(value), 1e-12))


# --- the run's checks ------------------------------------------------------------------------------
@dataclass
class ContextChecks:
    """The prepared checks of one run: :meth:`enrich` adds their evidence columns to a part."""

    prepared: list = field(default_factory=list)
    blocking: list[tuple[str, str]] = field(default_factory=list)

    def enrich(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not self.prepared:
            return frame
        return frame.assign(**{context_check_column(p.check): p.evidence(frame) for p in self.prepared})


def prepare(conn, resource: Resource, parts: list[str]) -> ContextChecks:
    checks = ContextChecks()
    for check in resource.pipeline.context_checks:
        if check.kind == "reference_match":
            checks.prepared.append(_ReferenceMatch(check, conn, parts, checks.blocking))
        elif check.kind == "point_in_polygon":
            checks.prepared.append(_PointInPolygon(check, conn, parts, checks.blocking))
        elif check.kind == "year_over_year":
            checks.prepared.append(_YearOverYear(check, conn, resource, parts))
        elif check.kind == "province_total":
            checks.prepared.append(_ProvinceTotal(check, conn, resource, parts))
    return checks
