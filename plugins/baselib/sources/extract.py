"""What every source produces: Parquet parts typed from the catalog, each row numbered.

A source's ``extract(window, dest_prefix, chunk_rows)`` writes parts under ``dest_prefix`` with
the catalog items it found (typed by :func:`arrow_schema`) plus ``_source_row``, a 0-based
int64 numbering rows across the whole extract, and returns an :class:`ExtractResult`.
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


@dataclass
class ExtractResult:
    parts: list[str]
    rows: int
    columns: list[str]             # catalog items found at the source
    missing_columns: list[str]     # catalog items the source lacks
    max_incremental: dt.datetime | None


def arrow_schema(resource: Resource, columns: list[str]) -> pa.Schema:
    return pa.schema([(c, ARROW_TYPES[resource.item(c).type]) for c in columns])
