"""GeoJSON deliveries: a FeatureCollection -> one record per feature.

Properties map to items by name, label or alias. The geometry is reprojected to the catalog's
CRS when the file declares another one, normalised (polygons as MultiPolygon), repaired when the
repair is lossless (flagged in ``repaired_column``), and stored as WKB, GeoJSON text and a
bounding box (or lon/lat for points). The declared CRS and any geometry error travel as
evidence columns: a file without a CRS, or a feature whose geometry cannot be read, is
quarantined row by row with its reason, not rejected whole.

Geometries are stored in 2D in every form (WKB, GeoJSON text, bbox, PostGIS): a z (height) in
the coordinates, even in only some positions, is dropped, and the delivery's
``ignored_columns`` says how many features had one. Reasons for an unreadable file are
bilingual, "中文 / English".
"""
from __future__ import annotations

import json

from baselib.catalog.model import FileDropSource, Resource
from baselib.errors import UnreadableFile
from baselib.geometry import crs as crs_module
from baselib.geometry import shapes
from baselib.sources.extract import GEOMETRY_ERROR, SOURCE_CRS
from baselib.sources.file_drop.rows import ParsedFile, header_map, map_header, require


def parse(resource: Resource, text: str, file_name: str) -> ParsedFile:
    from shapely.geometry import shape

    source: FileDropSource = resource.pipeline.source
    settings = source.geometry
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = not text.rstrip().endswith("}")
        raise UnreadableFile(
            f"不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列{'（文件在文档结束前中断：被截断）' if cut else ''} / "
            f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            f"{' (the file ends before the document does: truncated)' if cut else ''}") from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection" \
            or not isinstance(document.get("features"), list):
        raise UnreadableFile("不是 GeoJSON 要素集合(FeatureCollection) / not a GeoJSON FeatureCollection "
                             "(a 'type': 'FeatureCollection' object with 'features')")
    try:
        declared = crs_module.declared_crs(document)
        reproject = crs_module.transformer(declared, settings.crs) if declared else None
    except ValueError as exc:
        raise UnreadableFile(f"无法使用文件声明的坐标参考系：{exc} / "
                             f"cannot use the file's coordinate reference system: {exc}") from exc
    mapping = header_map(resource)
    derived = {settings.column, settings.geojson_column, settings.repaired_column, *settings.bbox_columns} - {None}
    records, refs, ignored, present, with_z = [], [], set(), set(), 0
    for n, feature in enumerate(document["features"], start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise UnreadableFile(f"features[{n - 1}] 不是 GeoJSON 要素(Feature) / "
                                 f"features[{n - 1}] is not a GeoJSON Feature object")
        record: dict = {}
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise UnreadableFile(f"features[{n - 1}].properties 不是对象 / features[{n - 1}].properties is not an object")
        for key, value in properties.items():
            name = map_header(mapping, key)
            if name is None or name in derived:
                ignored.add(key)
                continue
            record[name] = None if isinstance(value, str) and not value.strip() else value
            present.add(name)
        record[SOURCE_CRS] = declared
        geometry, error = None, None
        try:
            raw = feature.get("geometry")
            if raw is None:
                error = "the feature has no geometry"
            else:
                raw, had_z = _flat(raw)
                with_z += had_z
                geometry = shape(raw)
                if reproject is not None:
                    geometry = reproject(geometry)
        except Exception as exc:  # shapely/GEOS raise several types for malformed coordinates
            geometry, error = None, f"cannot read the geometry: {type(exc).__name__}: {exc}"
        repaired = False
        if geometry is not None:
            geometry, repaired, error = shapes.normalise(geometry, settings.kind)
        record[GEOMETRY_ERROR] = error
        record.update(_geometry_items(settings, geometry if error is None else None, repaired))
        ident = feature.get("id")
        records.append(record)
        refs.append(f"{file_name} feature {n}" + (f" (id {ident})" if ident is not None else ""))
    require(resource, present, derived, *(("要素属性", "the features' properties") if records else
                                          ("要素集合（没有要素）", "the FeatureCollection (it has no features)")))
    if with_z:
        ignored.add(f"z (height) coordinates of {with_z} features: stored in 2D")
    return ParsedFile.from_records(records, refs, sorted(ignored))


def _flat(geometry):
    """(the GeoJSON geometry with every position cut to x, y; whether any position had more).
    Positions of mixed dimension, which shapely cannot read, become 2D as well."""
    if not isinstance(geometry, dict):
        return geometry, False
    if isinstance(geometry.get("geometries"), list):  # a GeometryCollection
        parts = [_flat(g) for g in geometry["geometries"]]
        return {**geometry, "geometries": [g for g, _ in parts]}, any(z for _, z in parts)
    if "coordinates" not in geometry:
        return geometry, False
    flat, had_z = _positions(geometry["coordinates"])
    return {**geometry, "coordinates": flat}, had_z


def _positions(coordinates):
    if isinstance(coordinates, list) and coordinates and all(isinstance(c, (int, float)) for c in coordinates):
        return coordinates[:2], len(coordinates) > 2
    if isinstance(coordinates, list):
        parts = [_positions(c) for c in coordinates]
        return [c for c, _ in parts], any(z for _, z in parts)
    return coordinates, False


def _geometry_items(settings, geometry, repaired: bool) -> dict:
    import numpy as np

    out = {settings.column: shapes.to_wkb_hex(geometry)}
    if settings.geojson_column:
        out[settings.geojson_column] = shapes.to_geojson(geometry)
    if settings.repaired_column:
        out[settings.repaired_column] = bool(repaired)
    box = shapes.bounds(np.array([geometry], dtype=object))[0]
    values = [None if np.isnan(v) else float(v) for v in box]
    if settings.kind == "point":
        values = values[:2]
    out.update(dict(zip(settings.bbox_columns, values)))
    return out
