"""Geometry expectations over a column of WKB hex strings (``baselib.geometry.shapes.to_wkb_hex``):
valid and non-empty, of an allowed type, inside a bounding box (China by default), and not with
latitude and longitude exchanged.

A value that does not decode fails every check except the swapped-axes one (which it cannot
trip), so an undecodable value is reported as invalid / of the wrong type / out of the box. A
geometry whose axes look swapped passes the bbox check and fails only the swapped-axes check,
so its rejection reason says exactly that.
"""
from __future__ import annotations

import numpy as np
import shapely
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from baselib.geometry import shapes
from baselib.validation.expectations.common import series

MIN_LON, MIN_LAT, MAX_LON, MAX_LAT = shapes.CHINA_BBOX
BOX_KEYS = ("min_lon", "min_lat", "max_lon", "max_lat")
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
    box = tuple(float(v) for v in (min_lon, min_lat, max_lon, max_lat))
    return shapes.bounds(shapes.from_wkb_hex(column)), box


# --- valid geometry ----------------------------------------------------------------------------
class ColumnValuesValidGeometry(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_geometry"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        geoms = shapes.from_wkb_hex(column)
        decoded = shapely.is_geometry(geoms)
        ok = decoded & shapely.is_valid(geoms) & ~shapely.is_empty(geoms)
        return series(ok.astype(bool), column)


class ExpectColumnValuesToBeValidGeometry(ColumnMapExpectation):
    """WKB hex that decodes to a non-empty geometry valid by OGC rules (no self-intersecting rings,
    no overlapping polygon parts, holes inside their shells). Undecodable values fail."""

    map_metric = "column_values.valid_geometry"
    success_keys = ("mostly",)


# --- geometry type -----------------------------------------------------------------------------
class ColumnValuesGeometryType(ColumnMapMetricProvider):
    condition_metric_name = "column_values.geometry_type"
    condition_value_keys = ("geometry_types",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, geometry_types=(), **kwargs):
        names = type_names(shapes.from_wkb_hex(column))
        allowed = set(geometry_types or ())
        return series(np.array([name in allowed for name in names], dtype=bool), column)


class ExpectColumnValuesToBeGeometryType(ColumnMapExpectation):
    """WKB hex whose geometry type is one of ``geometry_types`` (e.g. ``["MultiPolygon"]`` or
    ``["Point"]``). Undecodable values fail."""

    map_metric = "column_values.geometry_type"
    success_keys = ("mostly", "geometry_types")
    geometry_types: list[str]


# --- within the bounding box -------------------------------------------------------------------
class ColumnValuesGeometryWithinBbox(ColumnMapMetricProvider):
    condition_metric_name = "column_values.geometry_within_bbox"
    condition_value_keys = BOX_KEYS

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, min_lon=MIN_LON, min_lat=MIN_LAT, max_lon=MAX_LON, max_lat=MAX_LAT, **kwargs):
        b, box = box_bounds(column, min_lon, min_lat, max_lon, max_lat)
        return series(shapes.within_box(b, box) | shapes.looks_swapped(b, box), column)


class ExpectColumnValuesGeometryToBeWithinBbox(ColumnMapExpectation):
    """WKB hex whose whole geometry lies inside the box (CGCS2000 lon/lat; China by default).
    A geometry that would lie inside with x and y exchanged passes here: it is reported by
    ``expect_column_values_geometry_axes_not_swapped``. Undecodable or empty values fail."""

    map_metric = "column_values.geometry_within_bbox"
    success_keys = ("mostly", *BOX_KEYS)
    min_lon: float = MIN_LON
    min_lat: float = MIN_LAT
    max_lon: float = MAX_LON
    max_lat: float = MAX_LAT


# --- axes not swapped --------------------------------------------------------------------------
class ColumnValuesGeometryAxesNotSwapped(ColumnMapMetricProvider):
    condition_metric_name = "column_values.geometry_axes_not_swapped"
    condition_value_keys = BOX_KEYS

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, min_lon=MIN_LON, min_lat=MIN_LAT, max_lon=MAX_LON, max_lat=MAX_LAT, **kwargs):
        b, box = box_bounds(column, min_lon, min_lat, max_lon, max_lat)
        return series(~shapes.looks_swapped(b, box), column)


class ExpectColumnValuesGeometryAxesNotSwapped(ColumnMapExpectation):
    """Fails where a geometry is outside the box but inside it with x and y exchanged: latitude
    and longitude written in the wrong order (GeoJSON is lon/lat)."""

    map_metric = "column_values.geometry_axes_not_swapped"
    success_keys = ("mostly", *BOX_KEYS)
    min_lon: float = MIN_LON
    min_lat: float = MIN_LAT
    max_lon: float = MAX_LON
    max_lat: float = MAX_LAT
