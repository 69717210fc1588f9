"""Rejected rows as quarantine records (``ops.quarantine``): the row as extracted, why, and
where it came from. Used by the executor and by the per-delivery hold-back of file drops."""
from __future__ import annotations

import json

import pandas as pd

from baselib.sources.columns import CONVERSION_ERROR, DELIVERY_ID, GEOMETRY_ERROR, ROW_ID, SOURCE_REF

EVIDENCE_DETAILS = (CONVERSION_ERROR, GEOMETRY_ERROR)  # evidence texts that say what exactly is wrong
COLUMNS = [ROW_ID, "record_key", "source_row", "failed_expectations", "reason", "delivery_id", "source_ref"]


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def rejected_records(rows: pd.DataFrame, failures: dict[int, list[dict]], keys: list[str]) -> pd.DataFrame:
    """One record per rejected row: the catalog items as extracted (``source_row``), why, and
    where it came from (file delivery and position, for file sources). Engine columns
    (``_``-prefixed lineage and evidence) stay out of ``source_row``, so the same row sent again
    in another delivery has the same fingerprint.

    ``rows``: the rejected rows (with ``_source_row``); ``failures``: row id -> the failed checks
    (``{"expectation", "check", "severity", "reason"}``). Returns the columns :data:`COLUMNS`."""
    records = []
    for raw in rows.to_dict("records"):
        row = {k: (None if _missing(v) else v) for k, v in raw.items()}
        row_id = int(row.pop(ROW_ID))
        delivery_id, source_ref = row.get(DELIVERY_ID), row.get(SOURCE_REF)
        details = [str(row[c]) for c in EVIDENCE_DETAILS if row.get(c)]  # e.g. which value is not a date
        row = {k: v for k, v in row.items() if not k.startswith("_")}
        failed = failures[row_id]
        source_row = json.dumps(row, ensure_ascii=False, default=str, sort_keys=True)
        records.append({
            ROW_ID: row_id,
            "record_key": "/".join("" if row.get(k) is None else str(row.get(k)) for k in keys),
            "source_row": source_row,
            "failed_expectations": json.dumps(failed, ensure_ascii=False),
            "reason": "；".join(dict.fromkeys(f["reason"] for f in failed)) + "".join(f"（{d}）" for d in details),
            "delivery_id": None if delivery_id is None else int(delivery_id),
            "source_ref": source_ref,
        })
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    return frame.astype({"delivery_id": "Int64", "source_ref": "string"})
