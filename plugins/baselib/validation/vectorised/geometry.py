"""Geometry checks over a column of WKB hex strings (``baselib.geometry.shapes.to_wkb_hex``): valid
and non-empty, of an allowed type, inside a bounding box, axes not swapped. Shared by GX
(``expectations.geometry``, whose docstring gives the rules) and the fast path. The column is
decoded once per distinct column (``shapes.from_wkb_hex`` remembers the last one).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from baselib.geometry import shapes
from baselib.validation.vectorised.registry import fields, register

MIN_LON, MIN_LAT, MAX_LON, MAX_LAT = shapes.CHINA_BBOX
BOX_KEYS = ("min_lon", "min_lat", "max_lon", "max_lat")
BOX_DEFAULTS = dict(zip(BOX_KEYS, shapes.CHINA_BBOX))
BOX_FIELDS = fields("Box", **{k: (float, v) for k, v in BOX_DEFAULTS.items()})
TYPE_FIELDS = fields("GeometryTypes", geometry_types=(list[str], ...))
# shapely.get_type_id -> GeoJSON/OGC type name (-1, a missing geometry, matches nothing)
TYPE_NAMES = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
                       "MultiPolygon", "GeometryCollection"], dtype=object)


def type_names(geoms: np.ndarray) -> np.ndarray:
    """Type name per geometry; None where there is no geometry."""
    ids = shapely.get_type_id(geoms)
    names = np.full(len(geoms), None, dtype=object)
    known = ids >= 0
    names[known] = TYPE_NAMES[ids[known]]
    return names


def box_bounds(column, min_lon, min_lat, max_lon, max_lat) -> tuple[np.ndarray, tuple[float, ...]]:
    """((n, 4) bounds of the decoded geometries, the box as floats)."""
    box = tuple(float(v) for v in (min_lon, min_lat, max_lon, max_lat))
    return shapes.bounds(shapes.from_wkb_hex(column)), box


@register("expect_column_values_to_be_valid_geometry", "column")
def valid_geometry(column: pd.Series) -> np.ndarray:
    geoms = shapes.from_wkb_hex(column)
    return (shapely.is_geometry(geoms) & shapely.is_valid(geoms) & ~shapely.is_empty(geoms)).astype(bool)


@register("expect_column_values_to_be_geometry_type", "column", ("geometry_types",), fields=TYPE_FIELDS)
def geometry_type(column: pd.Series, geometry_types=()) -> np.ndarray:
    names = type_names(shapes.from_wkb_hex(column))
    allowed = set(geometry_types or ())
    return np.array([name in allowed for name in names], dtype=bool)


@register("expect_column_values_geometry_to_be_within_bbox", "column", BOX_KEYS, defaults=BOX_DEFAULTS,
          fields=BOX_FIELDS)
def within_bbox(column: pd.Series, min_lon=MIN_LON, min_lat=MIN_LAT, max_lon=MAX_LON, max_lat=MAX_LAT) -> np.ndarray:
    b, box = box_bounds(column, min_lon, min_lat, max_lon, max_lat)
    return shapes.within_box(b, box) | shapes.looks_swapped(b, box)


@register("expect_column_values_geometry_axes_not_swapped", "column", BOX_KEYS, defaults=BOX_DEFAULTS,
          fields=BOX_FIELDS)
def axes_not_swapped(column: pd.Series, min_lon=MIN_LON, min_lat=MIN_LAT, max_lon=MAX_LON,
                     max_lat=MAX_LAT) -> np.ndarray:
    b, box = box_bounds(column, min_lon, min_lat, max_lon, max_lat)
    return ~shapes.looks_swapped(b, box)
