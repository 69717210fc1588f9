"""Convert a source's raw values (JSON values, text cells) to a catalog item's type.

:func:`converter` gives, per item type, a function that takes a non-null value and returns the
typed value, or raises TypeError / ValueError / ArithmeticError when the value cannot be of that
type. :func:`typed_value` applies one and turns a failure into evidence: sources keep such a row
with the value NULL and :func:`problem` in ``_conversion_error``, so the row is quarantined and
the rest load.

- A date-time without an offset is a wall time of the provider's time zone. A D value given as a
  date-time (``2025-02-28T16:00:00.000Z``) is the date, in the provider's zone, of that instant.
- A JSON number (parsed with :func:`parse_json`) keeps the provider's token for text items
  (``100.10`` stays ``100.10``, ``1e21`` stays ``1e21``).
- An integer must fit PostgreSQL's bigint (int64).
- Text holding a lone surrogate (``"\\ud83d"``: valid JSON, not storable Unicode) keeps its row
  with each surrogate shown as U+FFFD, and the row is quarantined naming the item and the cause.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Callable
from functools import partial

from baselib.catalog.model import DataType, Item

UTC = dt.timezone.utc
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"  # U+FFFD REPLACEMENT CHARACTER: stands in for a lone surrogate kept as evidence


class JsonNumber(decimal.Decimal):
    """A JSON number with a fraction or an exponent, exact, remembering the provider's token."""

    __slots__ = ("token",)

    def __new__(cls, token: str):
        number = super().__new__(cls, token)
        number.token = token
        return number


def parse_json(data: bytes | str):
    """``json.loads`` with fractional and exponent numbers as :class:`JsonNumber` (exact, token
    kept) instead of floats. Raises ``json.JSONDecodeError`` / ``UnicodeDecodeError``."""
    return json.loads(data, parse_float=JsonNumber)


class LoneSurrogate(ValueError):
    """Text holding a lone surrogate; ``kept`` is the text with each one shown as U+FFFD."""

    def __init__(self, text: str):
        self.units = sorted({f"U+{ord(c):04X}" for c in SURROGATE.findall(text)})
        self.kept = SURROGATE.sub(REPLACEMENT, text)
        super().__init__(f"invalid Unicode (lone surrogate {', '.join(self.units)})")

    def reason(self, item: Item) -> str:
        units = ", ".join(self.units)
        return (f"{item.label}({item.name}) 含无效 Unicode 字符（孤立代理项 {units}，显示为 U+FFFD）/ contains "
                f"invalid Unicode (lone surrogate {units}, shown as U+FFFD), which PostgreSQL cannot store")


def _json_default(v):
    if isinstance(v, decimal.Decimal):
        return float(v)  # a number nested in an object or list: JSON has no exact form for it here
    raise TypeError(f"{type(v).__name__} is not JSON")


def _to_text(v):
    if isinstance(v, str):
        text = v
    elif isinstance(v, bool):
        text = "true" if v else "false"
    elif isinstance(v, JsonNumber):
        text = v.token
    elif isinstance(v, (dict, list)):
        text = json.dumps(v, ensure_ascii=False, default=_json_default)
    else:
        text = str(v)
    if not text.isascii() and SURROGATE.search(text):
        raise LoneSurrogate(text)
    return text


def _to_timestamp(v, zone: dt.tzinfo):
    if not isinstance(v, str):
        raise TypeError(f"expected an ISO timestamp string, got {type(v).__name__}")
    ts = dt.datetime.fromisoformat(v)
    return (ts if ts.tzinfo else ts.replace(tzinfo=zone)).astimezone(UTC)


def _to_date(v, zone: dt.tzinfo):
    if not isinstance(v, str):
        raise TypeError(f"expected an ISO date string, got {type(v).__name__}")
    if len(v) > 10 and v[10] in "T ":  # a date-time: its date where the provider is
        return _to_timestamp(v, zone).astimezone(zone).date()
    return dt.date.fromisoformat(v)


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
    if isinstance(v, (float, decimal.Decimal)) and not (math.isfinite(v) and v == int(v)):
        raise ValueError(f"not an integer: {v!r}")
    number = int(v)
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError("outside the 64-bit integer range (bigint)")
    return number


def _to_float(v):
    if isinstance(v, bool):
        raise TypeError("a boolean is not a number")
    number = float(v)
    if math.isinf(number) and isinstance(v, decimal.Decimal) and v.is_finite():
        raise ValueError("outside the double precision range")
    return number


_CONVERTERS = {
    DataType.C: _to_text, DataType.M: _to_text, DataType.N: _to_text, DataType.Y: _to_text, DataType.G: _to_text,
    DataType.L: _to_bool, DataType.I: _to_int, DataType.B: _to_float, DataType.F: _to_float,
}


def converter(item_type: DataType, zone: dt.tzinfo) -> Callable:
    """The converter for ``item_type``; ``zone`` is the provider's time zone, in which a T (or
    D) value without an offset is read (a T result is UTC)."""
    if item_type is DataType.T:
        return partial(_to_timestamp, zone=zone)
    if item_type is DataType.D:
        return partial(_to_date, zone=zone)
    return _CONVERTERS[item_type]


def problem(item: Item, value, exc: Exception) -> str:
    """The evidence for a value that is not of ``item``'s type, e.g.
    ``颁发日期(issue_date) 1740787200000 不是D型 / is not a D value (expected an ISO date string, got int)``."""
    shown = value.token if isinstance(value, JsonNumber) else repr(value)
    return (f"{item.label}({item.name}) {shown} 不是{item.type.value}型 / is not a {item.type.value} value "
            f"({exc or type(exc).__name__})")


def typed_value(item: Item, convert: Callable, value) -> tuple[object, str | None]:
    """``(typed value, None)``, or, when ``value`` (not None) is not of ``item``'s type,
    ``(None, problem)``; text with a lone surrogate gives ``(text shown with U+FFFD, reason)``."""
    try:
        return convert(value), None
    except LoneSurrogate as exc:
        return exc.kept, exc.reason(item)
    except (TypeError, ValueError, ArithmeticError) as exc:
        return None, problem(item, value, exc)
