"""What publishing sends for one department and period, and its digest.

``build(row)`` turns an ``evaluation.indicator`` row (a dict of its columns) into the JSON payload::

    {"department": {"code", "name"}, "period": {"kind", "label", "start", "end"},
     "score": float | None, "grade": str | None, "indicators": {...}, "flags": {...}}

(dates ISO, ``end`` exclusive). ``computed_at`` is left out, so recomputing unchanged indicators
gives the same payload and digest. ``digest(payload)``: hex SHA-256 of the canonical JSON (sorted
keys, no spaces, UTF-8), stored as ``evaluation.indicator.payload_sha256``.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json


def _plain(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def build(row: dict) -> dict:
    return {
        "department": {"code": row["department_code"], "name": row["department_name"]},
        "period": {"kind": row["period_kind"], "label": row["period"], "start": _plain(row["period_start"]),
                   "end": _plain(row["period_end"])},
        "score": None if row["score"] is None else float(row["score"]),
        "grade": row["grade"],
        "indicators": row["indicators"],
        "flags": row["flags"],
    }


def canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain).encode()


def digest(payload: dict) -> str:
    return hashlib.sha256(canonical(payload)).hexdigest()
