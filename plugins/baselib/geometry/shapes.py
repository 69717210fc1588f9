"""Shapes of GeoJSON features in CGCS2000 (EPSG:4490, x = longitude, y = latitude).

* :func:`normalise` turns a parsed feature geometry into what is stored: 2D (a z is dropped,
  so WKB, GeoJSON text, bbox and PostGIS agree), polygons as MultiPolygon, points as Point. An invalid polygon is repaired only when the repair loses
  nothing (same area as its rings imply, every vertex still covered); otherwise it is stored as
  given and the validity expectation reports it.
* :func:`to_wkb_hex` / :func:`from_wkb_hex` carry geometries through Parquet and into PostgreSQL
  ``bytea`` as ``\\x``-prefixed little-endian 2D WKB hex.
* :func:`bounds`, :func:`within_box` and :func:`looks_swapped` are vectorised sanity checks
  against :data:`CHINA_BBOX`, including lat/lon written in the wrong order.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

# min_lon, min_lat, max_lon, max_lat: a geometry outside this box is not in China
CHINA_BBOX = (73.4, 3.8, 135.1, 53.6)

BYTEA_HEX_PREFIX = "\\x"        # PostgreSQL's bytea hex input format: backslash, x, hex digits
AREA_RTOL = 1e-9
VERTEX_TOLERANCE = 1e-9
KINDS = ("polygon", "point")

Result = tuple[BaseGeometry | None, bool, str | None]


# --- normalisation -----------------------------------------------------------------------------
def normalise(geom: BaseGeometry | None, kind: str) -> Result:
    """(geometry to store, repaired?, error) for a feature of ``kind`` "polygon" or "point".
    The stored geometry is always 2D: z (and m) coordinates are dropped.

    A geometry of the wrong family is returned unchanged (the type expectation reports it), as
    is an invalid polygon whose repair would change it (the validity expectation reports it).
    ``error`` is set only when GEOS itself fails on the geometry.
    """
    if kind not in KINDS:
        raise ValueError(f"geometry kind must be one of {KINDS}, not {kind!r}")
    if geom is None or geom.is_empty:
        return geom, False, None
    if geom.has_z:
        geom = shapely.force_2d(geom)
    try:
        if kind == "point":
            return _normalise_point(geom), False, None
        return _normalise_polygonal(geom)
    except shapely.errors.ShapelyError as exc:
        return geom, False, f"cannot process {geom.geom_type}: {exc}"


def _normalise_point(geom: BaseGeometry) -> BaseGeometry:
    if geom.geom_type == "MultiPoint" and len(geom.geoms) == 1:
        return geom.geoms[0]
    return geom


def _normalise_polygonal(geom: BaseGeometry) -> Result:
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    if not isinstance(geom, MultiPolygon) or geom.is_valid:
        return geom, False, None
    repaired = _polygonal_part(shapely.make_valid(geom))
    if repaired is not None and _is_lossless(geom, repaired):
        return repaired, True, None
    return geom, False, None


def _polygonal_part(geom: BaseGeometry) -> MultiPolygon | None:
    """The polygons of a make_valid result as one MultiPolygon (None when there are none)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    polygons = [q for p in parts for q in shapely.get_parts(p)]
    return MultiPolygon(polygons) if polygons else None


def _shoelace(ring) -> float:
    xy = shapely.get_coordinates(ring)
    x, y = xy[:, 0], xy[:, 1]
    return abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))) / 2.0


def ring_area(geom: MultiPolygon) -> float:
    """The area the rings imply: Σ over parts of |shoelace(exterior)| − Σ |shoelace(hole)|.
    Unlike GEOS's area this does not pretend a self-intersecting ring is valid."""
    return sum(
        _shoelace(part.exterior) - sum(_shoelace(hole) for hole in part.interiors)
        for part in geom.geoms
    )


def _is_lossless(original: MultiPolygon, repaired: MultiPolygon) -> bool:
    if repaired.is_empty or not repaired.is_valid:
        return False
    expected, got = ring_area(original), repaired.area
    if abs(expected - got) > AREA_RTOL * max(abs(expected), abs(got)):
        return False
    vertices = shapely.points(shapely.get_coordinates(original))
    return bool(shapely.dwithin(repaired, vertices, VERTEX_TOLERANCE).all())


# --- WKB hex -----------------------------------------------------------------------------------
def to_wkb_hex(geom: BaseGeometry | None) -> str | None:
    """Little-endian 2D WKB as ``\\x`` + lower-case hex, ready for a bytea column."""
    if geom is None:
        return None
    return BYTEA_HEX_PREFIX + shapely.to_wkb(geom, hex=True, output_dimension=2, byte_order=1).lower()


def _hex_body(value) -> str | None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("ascii", errors="replace")
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[len(BYTEA_HEX_PREFIX):] if value.startswith(BYTEA_HEX_PREFIX) else value


_last_decoded: tuple[tuple, np.ndarray] | None = None  # the suite's geometry checks all decode the same column


def from_wkb_hex(values: Iterable) -> np.ndarray:
    """Geometries (object array) from WKB hex strings with or without the ``\\x`` prefix.
    Missing values and anything that does not decode become None; never raises. The last column
    decoded is remembered, so the several expectations on one part decode it once."""
    global _last_decoded
    raw = values.tolist() if isinstance(values, (pd.Series, pd.Index, np.ndarray)) else list(values)
    key = tuple(None if _is_missing(v) else _hex_body(v) for v in raw)
    if _last_decoded is not None and _last_decoded[0] == key:
        return _last_decoded[1].copy()
    hexes = np.array(key, dtype=object)
    try:
        decoded = np.asarray(shapely.from_wkb(hexes, on_invalid="ignore"), dtype=object)
    except Exception:  # noqa: BLE001  (fall back to one at a time so one bad value cannot spoil the rest)
        decoded = np.array([_decode_one(h) for h in hexes], dtype=object)
    _last_decoded = (key, decoded)
    return decoded.copy()


def _decode_one(hex_body: str | None) -> BaseGeometry | None:
    if hex_body is None:
        return None
    try:
        return shapely.from_wkb(hex_body, on_invalid="ignore")
    except Exception:  # noqa: BLE001
        return None


def _is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


# --- bounds checks -----------------------------------------------------------------------------
def bounds(geoms: np.ndarray) -> np.ndarray:
    """(n, 4) min_x, min_y, max_x, max_y; rows of NaN for None or empty geometries."""
    return np.asarray(shapely.bounds(np.asarray(geoms, dtype=object)), dtype=float).reshape(-1, 4)


def within_box(b: np.ndarray, box: tuple[float, float, float, float] = CHINA_BBOX) -> np.ndarray:
    """True where the whole bounding box lies inside ``box`` (False for NaN rows)."""
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    min_x, min_y, max_x, max_y = box
    return (b[:, 0] >= min_x) & (b[:, 1] >= min_y) & (b[:, 2] <= max_x) & (b[:, 3] <= max_y)


def looks_swapped(b: np.ndarray, box: tuple[float, float, float, float] = CHINA_BBOX) -> np.ndarray:
    """True where the geometry is outside ``box`` but inside it once x and y are exchanged:
    latitude and longitude written in the wrong order."""
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    return ~within_box(b, box) & within_box(b[:, [1, 0, 3, 2]], box)


# --- GeoJSON ----------------------------------------------------------------------------------
def to_geojson(geom: BaseGeometry | None) -> str | None:
    """Compact GeoJSON geometry text, coordinates as stored."""
    if geom is None:
        return None
    return shapely.to_geojson(geom)


__all__ = ["CHINA_BBOX", "normalise", "to_wkb_hex", "from_wkb_hex", "bounds", "within_box", "looks_swapped",
           "to_geojson", "ring_area"]
