"""Coordinate reference systems of GeoJSON file drops.

:func:`declared_crs` reads the legacy (GeoJSON 2008) ``crs`` member and names it as
``AUTH:CODE``; :func:`transformer` gives a cached geometry reprojection into CGCS2000
(EPSG:4490, lon/lat order), or the identity when the file is already in it.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

TARGET_CRS = "EPSG:4490"

# urn:ogc:def:crs:EPSG::4490, urn:ogc:def:crs:OGC:1.3:CRS84 (the version part may be empty)
_URN = re.compile(r"^urn:ogc:def:crs:(?P<auth>[A-Za-z][\w.-]*):[\w.]*:(?P<code>\w+)$", re.IGNORECASE)
# http://www.opengis.net/def/crs/EPSG/0/4490
_URL = re.compile(r"^https?://www\.opengis\.net/def/crs/(?P<auth>[A-Za-z][\w.-]*)/[\w.]+/(?P<code>\w+)$",
                  re.IGNORECASE)
# EPSG:4490, epsg:4326, OGC:CRS84
_SHORT = re.compile(r"^(?P<auth>[A-Za-z][\w.-]*):(?P<code>\w+)$")

GeometryTransform = Callable[[BaseGeometry | None], BaseGeometry | None]


def normalise_crs_name(name: str) -> str:
    """``AUTH:CODE`` (authority upper case, EPSG codes without leading zeros) for a CRS name in
    URN, OGC URL or short form. Raises ValueError for anything else."""
    for pattern in (_URN, _URL, _SHORT):
        match = pattern.match(name.strip())
        if match:
            auth, code = match["auth"].upper(), match["code"].upper()
            if auth == "EPSG":
                if not code.isdigit():
                    raise ValueError(f"EPSG code is not a number in CRS name {name!r}")
                code = str(int(code))
            return f"{auth}:{code}"
    raise ValueError(f"unrecognised CRS name {name!r} (expected e.g. 'urn:ogc:def:crs:EPSG::4490' or 'EPSG:4490')")


def declared_crs(feature_collection: dict) -> str | None:
    """The CRS a FeatureCollection declares in its ``crs`` member, as ``AUTH:CODE``; None when
    it declares none. A member that is present but not ``{"type": "name", "properties":
    {"name": ...}}`` with a recognisable name raises ValueError (``"crs": null``, which in
    GeoJSON 2008 means no CRS can be assumed, included)."""
    if "crs" not in feature_collection:
        return None
    member = feature_collection["crs"]
    if not isinstance(member, dict):
        raise ValueError(f"GeoJSON crs member must be an object, got {member!r}")
    if member.get("type") != "name":
        raise ValueError(f"GeoJSON crs member must have type 'name' (linked CRS are not supported), got {member!r}")
    properties = member.get("properties")
    name = properties.get("name") if isinstance(properties, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"GeoJSON crs member has no properties.name string: {member!r}")
    return normalise_crs_name(name)


def _same(source: str, target: str) -> bool:
    return source.strip().upper() == target.strip().upper()


def _identity(geom: BaseGeometry | None) -> BaseGeometry | None:
    return geom


@functools.lru_cache(maxsize=32)
def transformer(source: str, target: str = TARGET_CRS) -> GeometryTransform:
    """A function reprojecting a geometry (or an array of them) from ``source`` to ``target``,
    x = longitude/easting in both (``always_xy``). Identity when they are the same CRS. Raises
    ValueError naming a CRS pyproj does not know."""
    if _same(source, target):
        return _identity
    crs = {}
    for role, name in (("source", source), ("target", target)):
        try:
            crs[role] = CRS.from_user_input(name)
        except CRSError as exc:
            raise ValueError(f"unknown {role} CRS {name!r}: {exc}") from None
    proj = Transformer.from_crs(crs["source"], crs["target"], always_xy=True)

    def _coords(xy: np.ndarray) -> np.ndarray:
        x, y = proj.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    def reproject(geom):
        return shapely.transform(geom, _coords)

    reproject.__doc__ = f"Reproject from {source} to {target}."
    return reproject
