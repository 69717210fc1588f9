"""Geometry for GeoJSON file drops in CGCS2000 (EPSG:4490, lon/lat as GeoJSON carries it):
``shapes`` normalises and losslessly repairs features, encodes them as WKB hex for bytea columns
and tests their bounds against China's sanity box (catching lat/lon written in the wrong order);
``crs`` reads a file's declared CRS and reprojects into EPSG:4490."""
