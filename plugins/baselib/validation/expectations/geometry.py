"""Geometry expectations over a column of WKB hex strings (``baselib.geometry.shapes.to_wkb_hex``):
valid and non-empty, of an allowed type, inside a bounding box (China by default), and not with
latitude and longitude exchanged.

A value that does not decode fails every check except the swapped-axes one (which it cannot
trip), so an undecodable value is reported as invalid / of the wrong type / out of the box. A
geometry whose axes look swapped passes the bbox check and fails only the swapped-axes check,
so its rejection reason says exactly that.
"""
from __future__ import annotations

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from baselib.validation.expectations.common import series
from baselib.validation.vectorised import geometry
from baselib.validation.vectorised.geometry import (  # noqa: F401  (kept importable here)
    BOX_KEYS,
    MAX_LAT,
    MAX_LON,
    MIN_LAT,
    MIN_LON,
    TYPE_NAMES,
    box_bounds,
    type_names,
)


# --- valid geometry ----------------------------------------------------------------------------
class ColumnValuesValidGeometry(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_geometry"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return series(geometry.valid_geometry(column), column)


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
        return series(geometry.geometry_type(column, geometry_types), column)


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
        return series(geometry.within_bbox(column, min_lon, min_lat, max_lon, max_lat), column)


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
        return series(geometry.axes_not_swapped(column, min_lon, min_lat, max_lon, max_lat), column)


class ExpectColumnValuesGeometryAxesNotSwapped(ColumnMapExpectation):
    """Fails where a geometry is outside the box but inside it with x and y exchanged: latitude
    and longitude written in the wrong order (GeoJSON is lon/lat)."""

    map_metric = "column_values.geometry_axes_not_swapped"
    success_keys = ("mostly", *BOX_KEYS)
    min_lon: float = MIN_LON
    min_lat: float = MIN_LAT
    max_lon: float = MAX_LON
    max_lat: float = MAX_LAT
