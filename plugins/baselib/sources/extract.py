"""What every source produces: Parquet parts typed from the catalog, each row numbered.

A source's ``extract(window, dest_prefix, chunk_rows)`` writes parts under ``dest_prefix`` with
the catalog items it found (typed by :func:`arrow_schema`) plus ``_source_row``, a 0-based
int64 numbering rows across the whole extract, and ``_conversion_error`` (text, NULL when the row
is fine: see ``baselib.sources.text`` and ``baselib.sources.values``), and returns an
:class:`ExtractResult`. File sources add lineage (``_delivery_id``, ``_source_ref``) and evidence
columns that the suite checks (names starting with ``_``); only the items and ``_delivery_id``
are loaded.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from baselib.catalog.model import DataType, Resource
from baselib.sources.columns import (  # noqa: F401  (the engine column names, importable from here too)
    CONVERSION_ERROR, DELIVERY_ID, GEOMETRY_ERROR, LINEAGE_COLUMNS, ROW_ID, SOURCE_CRS, SOURCE_REF,
)

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


@dataclass
class ExtractResult:
    parts: list[str]
    rows: int
    columns: list[str]             # catalog items found at the source
    missing_columns: list[str]     # catalog items the source lacks
    max_incremental: dt.datetime | None
    files: dict[str, int] | None = None  # file drops: {"new", "unchanged", "rejected"} file counts
    normalised: dict[str, int] | None = None  # values each text rule changed: {"name: trimmed": 3} (sources.text)


def arrow_schema(resource: Resource, columns: list[str]) -> pa.Schema:
    return pa.schema([(c, ARROW_TYPES[resource.item(c).type]) for c in columns])
