"""Convert a source's raw values (JSON values, text cells) to a catalog item's type.

Each converter takes a non-null value and returns the typed value, or raises ValueError /
TypeError when the value cannot be of that type. The HTTP API source fails the page on such a
value; file sources keep the row and record the problem as evidence, so the row is quarantined.
"""
from __future__ import annotations

import datetime as dt
import json

from baselib.catalog.model import DataType

UTC = dt.timezone.utc


def _to_text(v):
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _to_date(v):
    if isinstance(v, str):
        return dt.date.fromisoformat(v[:10]) if len(v) > 10 and v[10] in "T " else dt.date.fromisoformat(v)
    raise TypeError(f"expected an ISO date string, got {type(v).__name__}")


def _to_timestamp(v):
    if not isinstance(v, str):
        raise TypeError(f"expected an ISO timestamp string, got {type(v).__name__}")
    ts = dt.datetime.fromisoformat(v)
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).astimezone(UTC)


_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False, "t": True, "f": False, "y": True, "n": False,
              "yes": True, "no": False, "是": True, "否": False}


def _to_bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in _BOOL_TEXT:
        return _BOOL_TEXT[v.strip().lower()]
    raise ValueError(f"not a logical value: {v!r}")


def _to_int(v):
    if isinstance(v, bool):
        raise TypeError("a boolean is not an integer")
    if isinstance(v, float) and not v.is_integer():
        raise ValueError(f"not an integer: {v!r}")
    return int(v)


def _to_float(v):
    if isinstance(v, bool):
        raise TypeError("a boolean is not a number")
    return float(v)


CONVERTERS = {
    DataType.C: _to_text, DataType.M: _to_text, DataType.N: _to_text, DataType.Y: _to_text, DataType.G: _to_text,
    DataType.D: _to_date, DataType.T: _to_timestamp, DataType.L: _to_bool,
    DataType.I: _to_int, DataType.B: _to_float, DataType.F: _to_float,
}
