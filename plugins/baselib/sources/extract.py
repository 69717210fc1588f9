"""What every source produces: Parquet parts typed from the catalog, each row numbered.

A source's ``extract(window, dest_prefix, chunk_rows)`` writes parts under ``dest_prefix`` with
the catalog items it found (typed by :func:`arrow_schema`) plus ``_source_row``, a 0-based
int64 numbering rows across the whole extract, and returns an :class:`ExtractResult`.
File sources add lineage (``_delivery_id``, ``_source_ref``) and evidence columns that the
suite checks (names starting with ``_``); only the items and ``_delivery_id`` are loaded.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from baselib.catalog.model import DataType, Resource

ARROW_TYPES: dict[DataType, pa.DataType] = {
    DataType.C: pa.string(),
    DataType.M: pa.string(),
    DataType.N: pa.string(),   # exact decimals travel as text; PostgreSQL parses them on load
    DataType.Y: pa.string(),
    DataType.G: pa.string(),
    DataType.D: pa.date32(),
    DataType.T: pa.timestamp("us", tz="UTC"),
    DataType.L: pa.bool_(),
    DataType.B: pa.float64(),
    DataType.F: pa.float64(),
    DataType.I: pa.int64(),
}
ROW_ID = "_source_row"
# Lineage and evidence columns a source may add beside the items (never loaded as items):
DELIVERY_ID = "_delivery_id"      # file sources: the ops.file_delivery row the row came from
SOURCE_REF = "_source_ref"        # file sources: where in the file (feature 3, line 17, Sheet1!C5)
LINEAGE_COLUMNS = (DELIVERY_ID, SOURCE_REF)
CONVERSION_ERROR = "_conversion_error"  # file sources: values that are not of their item's type
SOURCE_CRS = "_source_crs"              # GeoJSON: the CRS the file declared (NULL: none declared)
GEOMETRY_ERROR = "_geometry_error"      # GeoJSON: why a feature's geometry could not be read


@dataclass
class ExtractResult:
    parts: list[str]
    rows: int
    columns: list[str]             # catalog items found at the source
    missing_columns: list[str]     # catalog items the source lacks
    max_incremental: dt.datetime | None
    files: dict[str, int] | None = None  # file drops: {"new", "unchanged", "rejected"} file counts


def arrow_schema(resource: Resource, columns: list[str]) -> pa.Schema:
    return pa.schema([(c, ARROW_TYPES[resource.item(c).type]) for c in columns])
