"""Geometry of GeoJSON file drops: normalisation and lossless repair, WKB hex, China box and
swapped axes, declared CRS and reprojection, and the four geometry expectations run through
real Great Expectations (one ephemeral context for the module)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point, Polygon

from baselib.geometry import crs, shapes

BEIJING = Point(116.4, 39.9)
SWAPPED = Point(39.9, 116.4)
LONDON = Point(-0.1, 51.5)
SQUARE = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
NEXT_SQUARE = Polygon([(1, 0), (2, 0), (2, 1), (1, 1)])
BOWTIE = Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])


def square(x: float, y: float, size: float = 0.01) -> Polygon:
    return Polygon([(x, y), (x + size, y), (x + size, y + size), (x, y + size)])


# --- normalise ---------------------------------------------------------------------------------
def test_polygon_becomes_multipolygon():
    geom, repaired, error = shapes.normalise(SQUARE, "polygon")
    assert isinstance(geom, MultiPolygon) and len(geom.geoms) == 1
    assert geom.geoms[0].equals(SQUARE)
    assert (repaired, error) == (False, None)


def test_valid_multipolygon_kept():
    far = MultiPolygon([SQUARE, square(5, 5, 1)])
    geom, repaired, error = shapes.normalise(far, "polygon")
    assert geom.equals_exact(far, 0) and repaired is False and error is None


def test_edge_sharing_squares_repaired_losslessly():
    original = MultiPolygon([SQUARE, NEXT_SQUARE])
    assert not original.is_valid
    geom, repaired, error = shapes.normalise(original, "polygon")
    assert repaired is True and error is None
    assert isinstance(geom, MultiPolygon) and geom.is_valid
    assert len(geom.geoms) == 1                      # unioned into one 2 x 1 rectangle
    assert geom.area == pytest.approx(2.0, rel=1e-12)
    assert geom.equals(Polygon([(0, 0), (2, 0), (2, 1), (0, 1)]))


def test_bowtie_not_repaired_and_stays_invalid():
    geom, repaired, error = shapes.normalise(BOWTIE, "polygon")
    assert repaired is False and error is None
    assert isinstance(geom, MultiPolygon)
    assert geom.geoms[0].equals_exact(BOWTIE, 0)     # the original rings, untouched
    assert not geom.is_valid
    assert shapes.ring_area(geom) == pytest.approx(0.0, abs=1e-12)   # make_valid would give 0.5


def test_repair_that_drops_a_vertex_is_refused():
    # a spike: the ring goes out to (3, 0.5) and straight back, which make_valid cuts off
    # (the area is unchanged, but the vertex at the spike's tip is lost)
    spike = Polygon([(0, 0), (1, 0), (1, 0.5), (3, 0.5), (1, 0.5), (1, 1), (0, 1)])
    assert not spike.is_valid
    assert shapely.make_valid(spike).area == pytest.approx(spike.area)
    geom, repaired, error = shapes.normalise(spike, "polygon")
    assert repaired is False and error is None and not geom.is_valid


def test_polygon_with_hole_area_accounts_for_hole():
    ring = [(0, 0), (4, 0), (4, 4), (0, 4)]
    holed = Polygon(ring, [[(1, 1), (2, 1), (2, 2), (1, 2)]])
    assert shapes.ring_area(MultiPolygon([holed])) == pytest.approx(15.0)


def test_wrong_family_returned_unchanged():
    for geom, kind in ((BEIJING, "polygon"), (SQUARE, "point"), (LineString([(0, 0), (1, 1)]), "polygon")):
        out, repaired, error = shapes.normalise(geom, kind)
        assert out is geom and repaired is False and error is None


def test_point_handling():
    assert shapes.normalise(BEIJING, "point") == (BEIJING, False, None)
    single, repaired, error = shapes.normalise(MultiPoint([(116.4, 39.9)]), "point")
    assert isinstance(single, Point) and single.equals(BEIJING) and not repaired and error is None
    several = MultiPoint([(116.4, 39.9), (121.5, 31.2)])
    assert shapes.normalise(several, "point")[0] is several


def test_empty_and_none():
    empty = Polygon()
    assert shapes.normalise(empty, "polygon") == (empty, False, None)
    assert shapes.normalise(None, "point") == (None, False, None)
    with pytest.raises(ValueError, match="kind"):
        shapes.normalise(SQUARE, "line")


# --- WKB hex -----------------------------------------------------------------------------------
def test_wkb_hex_format():
    text = shapes.to_wkb_hex(Point(1, 2))
    assert text == "\\x0101000000000000000000f03f0000000000000040"   # little endian, 2D
    assert shapes.to_wkb_hex(Point(1, 2, 3)) == text
    assert shapes.to_wkb_hex(None) is None


def test_wkb_hex_round_trip_with_and_without_prefix_and_bad_input():
    multi = shapes.normalise(MultiPolygon([SQUARE, NEXT_SQUARE]), "polygon")[0]
    with_prefix = [shapes.to_wkb_hex(g) for g in (BEIJING, multi)]
    values = pd.Series(with_prefix + [with_prefix[0][2:], None, np.nan, "zz-not-hex", "0101", "", 42])
    out = shapes.from_wkb_hex(values)
    assert out.dtype == object and len(out) == len(values)
    assert out[0].equals_exact(BEIJING, 0)
    assert out[1].equals_exact(multi, 0)
    assert out[2].equals_exact(BEIJING, 0)
    assert list(out[3:]) == [None] * 6
    assert list(shapes.from_wkb_hex(iter([]))) == []


def test_to_geojson_is_compact_and_as_stored():
    assert json.loads(shapes.to_geojson(SWAPPED)) == {"type": "Point", "coordinates": [39.9, 116.4]}
    assert " " not in shapes.to_geojson(SQUARE)
    assert shapes.to_geojson(None) is None


# --- bounds, China box, swapped axes -----------------------------------------------------------
def test_bounds_within_box_and_swapped():
    geoms = np.array([BEIJING, SWAPPED, LONDON, None, Point(), square(116.4, 39.9)], dtype=object)
    b = shapes.bounds(geoms)
    assert b.shape == (6, 4)
    assert b[0].tolist() == [116.4, 39.9, 116.4, 39.9]
    assert np.isnan(b[3]).all() and np.isnan(b[4]).all()
    assert shapes.within_box(b).tolist() == [True, False, False, False, False, True]
    assert shapes.looks_swapped(b).tolist() == [False, True, False, False, False, False]


def test_box_straddling_border_is_not_within():
    b = shapes.bounds(np.array([LineString([(116.4, 39.9), (140.0, 39.9)])], dtype=object))
    assert not shapes.within_box(b)[0] and not shapes.looks_swapped(b)[0]


def test_custom_box():
    b = shapes.bounds(np.array([LONDON], dtype=object))
    assert shapes.within_box(b, (-1, 51, 1, 52)).tolist() == [True]
    assert shapes.looks_swapped(shapes.bounds(np.array([Point(51.5, -0.1)], dtype=object)), (-1, 51, 1, 52))[0]


# --- CRS ---------------------------------------------------------------------------------------
def named(name) -> dict:
    return {"type": "FeatureCollection", "features": [], "crs": {"type": "name", "properties": {"name": name}}}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("urn:ogc:def:crs:EPSG::4490", "EPSG:4490"),
        ("urn:ogc:def:crs:EPSG:6.6:4326", "EPSG:4326"),
        ("EPSG:4490", "EPSG:4490"),
        ("epsg:4326", "EPSG:4326"),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "OGC:CRS84"),
        ("urn:ogc:def:crs:OGC::CRS84", "OGC:CRS84"),
        ("http://www.opengis.net/def/crs/EPSG/0/3857", "EPSG:3857"),
    ],
)
def test_declared_crs_names(name, expected):
    assert crs.declared_crs(named(name)) == expected


def test_declared_crs_missing():
    assert crs.declared_crs({"type": "FeatureCollection", "features": []}) is None


@pytest.mark.parametrize(
    "member",
    [
        "EPSG:4490",
        None,
        {"type": "link", "properties": {"href": "http://example.com/crs/42", "type": "proj4"}},
        {"type": "name"},
        {"type": "name", "properties": {"name": 4490}},
        {"type": "name", "properties": {"name": "WGS 84 please"}},
        {"type": "name", "properties": {"name": "EPSG:abc"}},
    ],
)
def test_declared_crs_malformed(member):
    with pytest.raises(ValueError, match="crs|CRS|EPSG"):
        crs.declared_crs({"type": "FeatureCollection", "features": [], "crs": member})


def test_transformer_from_web_mercator():
    # spherical web mercator by hand: x = R·λ, y = R·ln tan(π/4 + φ/2)
    radius = 6378137.0
    x = radius * math.radians(116.4)
    y = radius * math.log(math.tan(math.pi / 4 + math.radians(39.9) / 2))
    to_cgcs = crs.transformer("EPSG:3857")
    point = to_cgcs(Point(x, y))
    assert point.x == pytest.approx(116.4, abs=1e-6) and point.y == pytest.approx(39.9, abs=1e-6)
    polygon = to_cgcs(MultiPolygon([square(x, y, 1000.0)]))
    assert isinstance(polygon, MultiPolygon)
    assert shapes.within_box(shapes.bounds(np.array([polygon], dtype=object)))[0]
    assert crs.transformer("EPSG:3857") is to_cgcs      # cached


def test_transformer_identity_and_crs84():
    identity = crs.transformer(crs.TARGET_CRS)
    assert identity(BEIJING) is BEIJING and identity(None) is None
    moved = crs.transformer("OGC:CRS84")(BEIJING)
    assert moved.x == pytest.approx(116.4, abs=1e-6) and moved.y == pytest.approx(39.9, abs=1e-6)


def test_transformer_unknown_crs():
    with pytest.raises(ValueError, match="EPSG:999999"):
        crs.transformer("EPSG:999999")


# --- GX expectations ---------------------------------------------------------------------------
# row -> geometry; indexes chosen so each expectation's failures are distinct
ROWS = [
    shapes.normalise(square(116.4, 39.9), "polygon")[0],        # 0 clean polygon
    BEIJING,                                                      # 1 clean point
    SWAPPED,                                                      # 2 lat/lon swapped
    LONDON,                                                       # 3 outside China
    shapes.normalise(BOWTIE, "polygon")[0],                       # 4 invalid (and at 0,0: outside China)
    "zz-not-wkb",                                                 # 5 undecodable
    None,                                                         # 6 missing: skipped by GX
    Polygon(),                                                    # 7 empty
    shapes.normalise(square(121.4, 31.2), "polygon")[0],        # 8 clean polygon, Shanghai
]


@pytest.fixture(scope="module")
def batch():
    import great_expectations as gx

    import baselib.validation.expectations.geometry  # noqa: F401  (registers the expectations)

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    frame = pd.DataFrame({"geom": [g if isinstance(g, str) or g is None else shapes.to_wkb_hex(g) for g in ROWS]})
    asset = context.data_sources.add_pandas("geometry_test").add_dataframe_asset("features")
    return asset.add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame})


def failing_rows(batch, type_: str, **kwargs) -> list[int]:
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    expectation = ExpectationConfiguration(type=type_, kwargs={"column": "geom", **kwargs}).to_domain_obj()
    result = batch.validate(expectation, result_format="COMPLETE")
    assert not result.exception_info.get("raised_exception"), result.exception_info
    assert result.result["element_count"] == len(ROWS)
    assert result.result["missing_count"] == 1
    return sorted(int(i) for i in result.result["unexpected_index_list"])


def test_expect_valid_geometry(batch):
    assert failing_rows(batch, "expect_column_values_to_be_valid_geometry") == [4, 5, 7]


def test_expect_geometry_type(batch):
    assert failing_rows(batch, "expect_column_values_to_be_geometry_type",
                        geometry_types=["MultiPolygon"]) == [1, 2, 3, 5, 7]
    assert failing_rows(batch, "expect_column_values_to_be_geometry_type",
                        geometry_types=["Point"]) == [0, 4, 5, 7, 8]


def test_expect_within_bbox(batch):
    # the swapped point passes here; it is the next expectation's to report
    assert failing_rows(batch, "expect_column_values_geometry_to_be_within_bbox") == [3, 4, 5, 7]
    # a box around London only: now Beijing and Shanghai are out, London is in
    assert failing_rows(batch, "expect_column_values_geometry_to_be_within_bbox",
                        min_lon=-1, min_lat=51, max_lon=1, max_lat=52) == [0, 1, 2, 4, 5, 7, 8]


def test_expect_axes_not_swapped(batch):
    assert failing_rows(batch, "expect_column_values_geometry_axes_not_swapped") == [2]


def test_expectation_type_names():
    from baselib.validation.expectations import geometry

    classes = [geometry.ExpectColumnValuesToBeValidGeometry, geometry.ExpectColumnValuesToBeGeometryType,
               geometry.ExpectColumnValuesGeometryToBeWithinBbox, geometry.ExpectColumnValuesGeometryAxesNotSwapped]
    assert [cls.expectation_type for cls in classes] == [
        "expect_column_values_to_be_valid_geometry",
        "expect_column_values_to_be_geometry_type",
        "expect_column_values_geometry_to_be_within_bbox",
        "expect_column_values_geometry_axes_not_swapped",
    ]


# --- issue 8: 3D input is stored in 2D in every form ----------------------------------------------
@pytest.mark.parametrize("geometry, kind, stored_type", [
    (shapely.Point(115.9, 28.6, 25.0), "point", "Point"),
    (shapely.MultiPoint([(115.9, 28.6, 25.0)]), "point", "Point"),
    (shapely.Polygon([(115.9, 28.6, 1), (116, 28.6, 2), (116, 28.7, 3), (115.9, 28.6, 1)]), "polygon", "MultiPolygon"),
    (shapely.MultiPolygon([shapely.Polygon([(x, 28.6, 5), (x + .1, 28.6, 5), (x + .1, 28.7, 5), (x, 28.6, 5)])
                           for x in (115.1, 115.5)]), "polygon", "MultiPolygon"),
])
def test_z_coordinates_are_dropped_so_wkb_geojson_and_bbox_agree(geometry, kind, stored_type):
    stored, repaired, error = shapes.normalise(geometry, kind)
    assert error is None and not repaired
    assert stored.geom_type == stored_type and not stored.has_z
    assert shapely.equals(stored, shapely.force_2d(geometry))
    from_wkb = shapes.from_wkb_hex([shapes.to_wkb_hex(stored)])[0]
    from_json = shapely.from_geojson(shapes.to_geojson(stored))
    assert not from_json.has_z and shapely.equals_exact(from_wkb, from_json, 0)
    assert list(shapes.bounds(np.array([stored], dtype=object))[0]) == list(from_json.bounds)


def test_a_3d_polygon_is_repaired_in_2d():
    # two halves sharing an edge: invalid as a MultiPolygon
    halves = shapely.MultiPolygon([shapely.Polygon([(x, 28.5, 8), (x + .25, 28.5, 8), (x + .25, 28.75, 8),
                                                    (x, 28.75, 8)]) for x in (115.0, 115.25)])
    stored, repaired, error = shapes.normalise(halves, "polygon")
    assert repaired and error is None and not stored.has_z and stored.is_valid
    assert stored.area == pytest.approx(0.125)
