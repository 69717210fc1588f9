"""GeoJSON deliveries: a FeatureCollection -> one record per feature.

Properties map to items by name, label or alias. The geometry is reprojected to the catalog's
CRS when the file declares another one, normalised (polygons as MultiPolygon), repaired when the
repair is lossless (flagged in ``repaired_column``), and stored as WKB, GeoJSON text and a
bounding box (or lon/lat for points). The declared CRS and any geometry error travel as
evidence columns: a file without a CRS, or a feature whose geometry cannot be read, is
quarantined row by row with its reason, not rejected whole.
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
        truncated = "" if text.rstrip().endswith("}") else " (the file ends before the document does: truncated)"
        raise UnreadableFile(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}{truncated}") from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection" \
            or not isinstance(document.get("features"), list):
        raise UnreadableFile("not a GeoJSON FeatureCollection (a 'type': 'FeatureCollection' object with 'features')")
    try:
        declared = crs_module.declared_crs(document)
        reproject = crs_module.transformer(declared, settings.crs) if declared else None
    except ValueError as exc:
        raise UnreadableFile(f"cannot use the file's coordinate reference system: {exc}") from exc
    mapping = header_map(resource)
    derived = {settings.column, settings.geojson_column, settings.repaired_column, *settings.bbox_columns} - {None}
    records, refs, ignored, present = [], [], set(), set()
    for n, feature in enumerate(document["features"], start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise UnreadableFile(f"features[{n - 1}] is not a GeoJSON Feature object")
        record: dict = {}
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise UnreadableFile(f"features[{n - 1}].properties is not an object")
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
    require(resource, present, derived, "the features' properties" if records else "the FeatureCollection (it has no features)")
    return ParsedFile.from_records(records, refs, sorted(ignored))


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
