"""The fast path: row and table checks of a suite evaluated in vectorised pandas/NumPy/pyarrow code,
with exactly the outcome GX 1.24.1's pandas engine gives (issue 9). The GX suites stay the one
declaration of what is checked; this package only evaluates them. It never imports Great
Expectations.

:func:`evaluate` runs one expectation (its ``type`` and suite ``kwargs``) over a frame. The
domain is built as GX builds it:

* ``row_condition`` (``condition_parser`` "pandas") keeps the rows ``DataFrame.eval`` marks;
* column map types skip NULLs (pandas ``isna``: None, NaN, NaT, pd.NA) except
  ``expect_column_values_to_not_be_null`` / ``..._to_be_null``;
* pair types drop rows by ``ignore_row_if`` (default ``both_values_are_missing`` for GX's own,
  ``either_value_is_missing`` for the project's), multicolumn types likewise (default
  ``all_values_are_missing``);
* ``mostly`` (default 1): success when (considered - unexpected) / considered >= mostly, where
  "considered" is the non-null rows (column maps), every row (not-null / to-be-null) or the rows
  left after ``ignore_row_if`` (pairs, multicolumn); no row to consider is a success.

The conditions live in one module per family (``builtin``, ``identifiers``, ``reference``,
``dates``, ``numbers``, ``geometry``); the project's GX expectations call the same functions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from baselib.validation.vectorised import builtin, dates, geometry, identifiers, numbers, reference  # noqa: F401
from baselib.validation.vectorised.registry import CHECKS, Check

SUPPORTED: frozenset[str] = frozenset(CHECKS)
PARAMETER = "$PARAMETER"


class UnsupportedExpectation(Exception):
    """The expectation type has no fast path; run it through GX."""


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one expectation over one frame.

    ``unexpected``: bool (n,) over the frame's rows, True where the row fails, for row-level
    (map) expectations; None for table-level ones. ``success``: GX's success (``mostly``
    honoured). ``element_count``: the rows in the domain after ``row_condition`` (GX's
    ``element_count``). ``observed``: a table-level expectation's observed value.
    """

    unexpected: np.ndarray | None
    success: bool
    element_count: int
    observed: object = None


def resolve(kwargs: dict, parameters: dict) -> dict:
    """``kwargs`` with every ``{"$PARAMETER": name}`` value replaced by ``parameters[name]``.
    Raises ValueError naming a parameter that is not given."""
    out = {}
    for key, value in kwargs.items():
        if isinstance(value, dict) and PARAMETER in value:
            name = value[PARAMETER]
            if name not in parameters:
                raise ValueError(f"suite parameter {name!r} (kwarg {key!r}) has no value")
            value = parameters[name]
        out[key] = value
    return out


def _coerce(check: Check, kwargs: dict) -> dict:
    """Literal kwargs (not suite parameters) coerced by the expectation's typed fields, as GX's
    pydantic model coerces them before any metric runs. Raises ValueError for a value GX refuses."""
    if check.fields is None:
        return kwargs
    literal = {k: v for k, v in kwargs.items() if k in check.fields.__fields__
               and not (isinstance(v, dict) and PARAMETER in v)}
    try:
        model = check.fields(**literal)
    except Exception as exc:  # noqa: BLE001  (pydantic's ValidationError, as GX raises it)
        raise ValueError(f"{check.type}: invalid kwargs: {exc}") from exc
    return kwargs | {k: getattr(model, k) for k in literal}


def _missing_column(name) -> ValueError:
    return ValueError(f'Error: The column "{name}" in BatchData does not exist.')


def _require(frame: pd.DataFrame, names) -> None:
    for name in names:
        if name not in frame.columns:
            raise _missing_column(name)


def _rows(frame: pd.DataFrame, kwargs: dict) -> np.ndarray | None:
    """bool (n,) of the rows ``row_condition`` keeps, or None for every row."""
    condition = kwargs.get("row_condition")
    if not condition:
        return None
    if not isinstance(condition, str) or kwargs.get("condition_parser") != "pandas":
        raise ValueError("condition_parser for Pandas is required when setting a row_condition.")
    return np.asarray(frame.eval(condition, parser="pandas"), dtype=bool)


def _mostly(considered: int, unexpected: int, mostly) -> bool:
    if considered == 0:
        return True
    return (float(considered) - float(unexpected)) / float(considered) >= float(1 if mostly is None else mostly)


def _as_bool(meets, length: int) -> np.ndarray:
    """A condition's result as bool (k,); a missing (NA) result counts as not met."""
    if isinstance(meets, (pd.Series, pd.Index)):
        meets = meets.array
    if isinstance(meets, pd.api.extensions.ExtensionArray):
        meets = meets.to_numpy(dtype=bool, na_value=False)
    meets = np.asarray(meets, dtype=bool)
    if meets.shape != (length,):
        raise ValueError(f"condition gave {meets.shape} results for {length} rows")
    return meets


def evaluate(type_: str, kwargs: dict, frame: pd.DataFrame, parameters: dict) -> Evaluation:
    """Evaluate expectation ``type_`` with suite ``kwargs`` over ``frame`` (n rows) as GX would.

    ``parameters``: values for ``{"$PARAMETER": name}`` kwargs. Raises UnsupportedExpectation for
    a type not in :data:`SUPPORTED`; ValueError for a column that is not in the frame (GX's text:
    ``Error: The column "x" in BatchData does not exist.``), an unknown suite parameter, an invalid
    ``row_condition`` / ``condition_parser`` or ``ignore_row_if``. A condition that cannot evaluate
    a value raises as GX's metric would (e.g. TypeError, pyarrow.ArrowTypeError)."""
    check = CHECKS.get(type_)
    if check is None:
        raise UnsupportedExpectation(type_)
    kw = check.defaults | resolve(_coerce(check, kwargs), parameters)
    rows = _rows(frame, kw)
    if check.kind == "table":
        domain = frame if rows is None else frame.loc[rows]
        success, observed = check.condition(domain, **kw)
        return Evaluation(None, bool(success), len(domain), observed)
    names = _domain_columns(check, kw)
    _require(frame, names)
    position = np.arange(len(frame)) if rows is None else np.flatnonzero(rows)
    element_count = len(position)
    values = {k: kw.get(k) for k in check.value_keys}
    if check.kind == "column":
        return _column(check, frame, names[0], rows, position, element_count, values, kw)
    # pairs and multicolumn: rows left out by ignore_row_if are neither counted nor failed. Where
    # GX's metric leaves row_condition out of its domain, the condition sees every row while the
    # element count honours the row_condition; GX then fails when fewer rows are counted than
    # considered (negative missing count), and otherwise reports what the condition found.
    condition_rows = rows if check.row_condition else None
    cond_position = position if condition_rows is not None else np.arange(len(frame))
    sub = frame[names] if condition_rows is None else frame[names].iloc[cond_position]
    keep = _ignore_rows(sub, check, kw)
    if not keep.all():
        sub, cond_position = sub.loc[keep], cond_position[keep]
    if check.kind == "pair":
        meets = check.condition(sub[names[0]], sub[names[1]], **values)
    else:
        meets = check.condition(sub, **values)
    failed = ~_as_bool(meets, len(sub))
    unexpected = np.zeros(len(frame), dtype=bool)
    unexpected[cond_position[failed]] = True
    considered = len(sub)
    if considered > element_count:
        raise ValueError(f"{type_}: {considered} rows considered but {element_count} counted: GX 1.24 fails on a "
                         f"row_condition for this expectation (its metric's domain leaves the row_condition out)")
    success = True if element_count == 0 else _mostly(considered, int(failed.sum()), kw.get("mostly"))
    return Evaluation(unexpected, success, element_count)


def _domain_columns(check: Check, kw: dict) -> list:
    if check.kind == "column":
        return [kw.get("column")]
    if check.kind == "pair":
        return [kw.get("column_A"), kw.get("column_B")]
    return list(kw.get("column_list") or [])


def _ignore_rows(sub: pd.DataFrame, check: Check, kw: dict) -> np.ndarray:
    how = kw.get("ignore_row_if")
    missing = sub.isna().to_numpy()
    if check.kind == "pair":
        rules = {"both_values_are_missing": "all", "either_value_is_missing": "any", "neither": None}
    else:
        rules = {"all_values_are_missing": "all", "any_value_is_missing": "any", "never": None}
    if how not in rules:
        raise ValueError(f'Unrecognized value of ignore_row_if ("{how}").')
    if rules[how] is None or missing.shape[1] == 0:
        return np.ones(len(sub), dtype=bool)
    dropped = missing.all(axis=1) if rules[how] == "all" else missing.any(axis=1)
    return ~dropped


def _column(check: Check, frame: pd.DataFrame, name, rows, position, element_count, values, kw) -> Evaluation:
    column = frame[name] if rows is None else frame[name].iloc[position]
    if check.keeps_nulls:
        failed = ~_as_bool(check.condition(column, **values), len(column))
        considered = element_count
    else:
        nonnull = column.notna().to_numpy(dtype=bool)
        if not nonnull.all():
            column, position = column.iloc[np.flatnonzero(nonnull)], position[nonnull]
        failed = ~_as_bool(check.condition(column, **values), len(column))
        considered = len(column)
    unexpected = np.zeros(len(frame), dtype=bool)
    unexpected[position[failed]] = True
    success = True if element_count == 0 else _mostly(considered, int(failed.sum()), kw.get("mostly"))
    return Evaluation(unexpected, success, element_count)


__all__ = ["SUPPORTED", "UnsupportedExpectation", "Evaluation", "evaluate", "resolve"]
