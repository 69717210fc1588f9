"""The registry of fast-path checks: one :class:`Check` per GX expectation type, filled by the family
modules (``builtin``, ``identifiers``, ``reference``, ``dates``, ``numbers``, ``geometry``) through
:func:`register`. No Great Expectations here or in the family modules.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["column", "pair", "multicolumn", "table"]


@dataclass(frozen=True)
class Check:
    """How one expectation type is evaluated, mirroring GX 1.24's pandas engine.

    ``kind``:
      * ``column``: ``condition(values, **value_kwargs) -> bool (k,)`` True where a value meets
        the expectation; ``values`` is the column over the rows in the domain (row_condition
        applied, and NULLs dropped unless ``keeps_nulls``), a pandas Series keeping the frame's index;
      * ``pair``: ``condition(column_A, column_B, **value_kwargs)`` after ``ignore_row_if``;
      * ``multicolumn``: ``condition(frame[column_list], **value_kwargs)`` after ``ignore_row_if``;
      * ``table``: ``condition(frame, **kwargs) -> (success, observed)``.
    ``value_keys``: the kwargs passed on to ``condition`` (GX's ``condition_value_keys``).
    ``defaults``: the expectation class's defaults for kwargs a suite may omit.
    ``keeps_nulls``: not-null / to-be-null: NULLs are in the domain and success is counted over
    every row, not the non-null ones. ``row_condition``: False where GX's metric leaves
    ``row_condition`` out of its domain keys, so GX 1.24 fails on a ``row_condition`` (its counts
    disagree); the fast path refuses one too. ``fields``: a pydantic v1 model mirroring the GX
    expectation's typed fields, so literal kwargs are coerced as GX coerces them (an ISO date text
    bound becomes a date, ``5`` a float).
    """

    type: str
    kind: Kind
    condition: Callable
    value_keys: tuple[str, ...] = ()
    defaults: dict = field(default_factory=dict)
    keeps_nulls: bool = False
    row_condition: bool = True
    fields: Any = None


CHECKS: dict[str, Check] = {}


def fields(name: str, **annotations):
    """A pydantic v1 model (extra kwargs ignored) with ``annotations`` as ``(type, default)`` pairs:
    the typed fields of a GX expectation class, for :attr:`Check.fields`."""
    from pydantic import v1 as pydantic_v1

    class Config:
        extra = pydantic_v1.Extra.ignore

    return pydantic_v1.create_model(name, __config__=Config, **annotations)

PAIR_DEFAULT = "both_values_are_missing"      # GX's ColumnPairMapExpectation built-ins
MULTICOLUMN_DEFAULT = "all_values_are_missing"  # GX's MulticolumnMapExpectation


def register(type_: str, kind: Kind, value_keys: tuple[str, ...] = (), defaults: dict | None = None,
             keeps_nulls: bool = False, row_condition: bool = True, fields: Any = None):
    """Decorator: register ``condition`` as the fast path of expectation ``type_`` (see :class:`Check`)."""
    def decorate(condition: Callable) -> Callable:
        CHECKS[type_] = Check(type_, kind, condition, tuple(value_keys), dict(defaults or {}), keeps_nulls,
                              row_condition, fields)
        return condition
    return decorate
