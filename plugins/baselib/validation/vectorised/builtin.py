"""GX 1.24 built-in expectation types, evaluated as GX's pandas engine evaluates them: the same
pandas operations on the same domain (``great_expectations/expectations/metrics/column_map_metrics``
and friends), without GX's validation machinery around them.

Semantics kept on purpose: regular expressions go through ``Series.astype(str).str.contains`` (for
pandas 3's Arrow-backed text that is RE2's search, as in GX); lengths are
``astype(str).str.len()`` (characters, so a CJK or full-width character counts 1, and a number
is measured as its text); ``in_set`` compares with ``Series.isin`` (so ``1`` is in ``[True]``,
``"1"`` is not in ``[1]``); ``not_in_set`` parses the value set as datetimes for a datetime column;
``between`` is vectorised for int/float and datetime columns and otherwise compares value by
value, raising TypeError where a text value meets a numeric bound (GX raises the same).
"""
from __future__ import annotations

import datetime as dt
from typing import Optional, Union

import numpy as np
import pandas as pd
from pydantic import v1 as pydantic_v1

from baselib.validation.vectorised.registry import MULTICOLUMN_DEFAULT, PAIR_DEFAULT, register

BOUNDS = ("min_value", "max_value", "strict_min", "strict_max")


# The typed fields of GX's expectation models (pydantic v1), which coerce a suite's literal kwargs
# before any metric sees them: great_expectations/expectations/core/*.py, core/types.Comparable.
class _Fields(pydantic_v1.BaseModel):
    class Config:
        extra = pydantic_v1.Extra.ignore


class ComparableBounds(_Fields):
    min_value: Optional[Union[float, dict, dt.date, dt.datetime]] = None
    max_value: Optional[Union[float, dict, dt.date, dt.datetime]] = None
    strict_min: Union[bool, dict] = False
    strict_max: Union[bool, dict] = False


class IntBounds(_Fields):
    min_value: Optional[Union[int, dict]] = None
    max_value: Optional[Union[int, dict]] = None
    strict_min: Union[bool, dict] = False
    strict_max: Union[bool, dict] = False


class RowCountBounds(_Fields):
    min_value: Union[int, dict, dt.datetime, None] = None
    max_value: Union[int, dict, dt.datetime, None] = None
    strict_min: Union[bool, dict] = False
    strict_max: Union[bool, dict] = False


class FloatValue(_Fields):
    value: Union[float, dict]


class IntValue(_Fields):
    value: Union[int, dict]


# --- table level -------------------------------------------------------------------------------
@register("expect_column_to_exist", "table")
def column_exists(frame: pd.DataFrame, column=None, column_index=None, **_):
    columns = list(frame.columns)
    if column_index:
        try:
            return columns[column_index] == column, None
        except IndexError:
            return False, None
    return column in columns, None


@register("expect_table_columns_to_match_set", "table", defaults={"exact_match": True})
def columns_match_set(frame: pd.DataFrame, column_set=None, exact_match=True, **_):
    actual = {str(c) for c in frame.columns}
    expected = set(column_set) if column_set is not None else set()
    observed = sorted(actual)
    if (column_set is None and exact_match is not True) or (expected == actual):
        return True, observed
    if exact_match:
        return False, observed
    return not (expected - actual), observed


@register("expect_table_columns_to_match_ordered_list", "table")
def columns_match_ordered_list(frame: pd.DataFrame, column_list=None, **_):
    observed = list(frame.columns)
    return column_list is None or list(column_list) == observed, observed


def _metric_between(value, min_value=None, max_value=None, strict_min=None, strict_max=None) -> bool:
    above = True if min_value is None else (value > min_value if strict_min else value >= min_value)
    below = True if max_value is None else (value < max_value if strict_max else value <= max_value)
    return bool(above and below)


@register("expect_table_row_count_to_be_between", "table", fields=RowCountBounds)
def row_count_between(frame: pd.DataFrame, min_value=None, max_value=None, strict_min=None, strict_max=None, **_):
    rows = len(frame)
    return _metric_between(rows, min_value, max_value, strict_min, strict_max), rows


@register("expect_table_row_count_to_equal", "table", fields=IntValue)
def row_count_equals(frame: pd.DataFrame, value=None, **_):
    return len(frame) == value, len(frame)


@register("expect_table_column_count_to_equal", "table", fields=IntValue)
def column_count_equals(frame: pd.DataFrame, value=None, **_):
    return frame.shape[1] == value, frame.shape[1]


@register("expect_table_column_count_to_be_between", "table", fields=ComparableBounds)
def column_count_between(frame: pd.DataFrame, min_value=None, max_value=None, strict_min=None, strict_max=None,
                         **_):
    count = frame.shape[1]
    return _metric_between(count, min_value, max_value, strict_min, strict_max), count


# --- nulls ---------------------------------------------------------------------------------------
@register("expect_column_values_to_not_be_null", "column", keeps_nulls=True)
def not_null(column: pd.Series):
    return column.notna().to_numpy(dtype=bool)


@register("expect_column_values_to_be_null", "column", keeps_nulls=True)
def null(column: pd.Series):
    return column.isna().to_numpy(dtype=bool)


# --- lengths -------------------------------------------------------------------------------------
def lengths(column: pd.Series) -> pd.Series:
    """GX's ``column_values.value_length``: the length of each value's text, in characters."""
    return column.astype(str).str.len()


@register("expect_column_value_lengths_to_be_between", "column", BOUNDS, fields=IntBounds)
def lengths_between(column, min_value=None, max_value=None, strict_min=None, strict_max=None):
    found = lengths(column)
    if min_value is not None and max_value is not None:
        inclusive = {(True, True): "neither", (True, False): "right", (False, True): "left",
                     (False, False): "both"}[(bool(strict_min), bool(strict_max))]
        return found.between(min_value, max_value, inclusive=inclusive)
    if max_value is not None:
        return found < max_value if strict_max else found <= max_value
    if min_value is not None:
        return found > min_value if strict_min else found >= min_value
    raise ValueError("Invalid configuration")


@register("expect_column_value_lengths_to_equal", "column", ("value",), fields=FloatValue)
def lengths_equal(column, value=None):
    return lengths(column) == value


# --- patterns ------------------------------------------------------------------------------------
@register("expect_column_values_to_match_regex", "column", ("regex",))
def match_regex(column, regex=None):
    return column.astype(str).str.contains(regex)


@register("expect_column_values_to_not_match_regex", "column", ("regex",))
def not_match_regex(column, regex=None):
    return ~column.astype(str).str.contains(regex)


@register("expect_column_values_to_match_strftime_format", "column", ("strftime_format",))
def match_strftime_format(column, strftime_format=None):
    def parses(value) -> bool:
        try:
            dt.datetime.strptime(value, strftime_format)  # noqa: DTZ007
            return True
        except TypeError:
            raise TypeError("Values passed to expect_column_values_to_match_strftime_format must be of type string.")
        except ValueError:
            return False

    return np.fromiter((parses(v) for v in column.tolist()), dtype=bool, count=len(column))


# --- sets ----------------------------------------------------------------------------------------
@register("expect_column_values_to_be_in_set", "column", ("value_set",))
def in_set(column, value_set=None):
    if value_set is None:
        return np.ones(len(column), dtype=bool)
    return column.isin(value_set)


@register("expect_column_values_to_not_be_in_set", "column", ("value_set",))
def not_in_set(column, value_set=None):
    if value_set is None:
        return np.ones(len(column), dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(column):
        from dateutil.parser import parse

        value_set = [parse(v) if isinstance(v, str) else v for v in value_set]
    return ~column.isin(value_set)


# --- ranges --------------------------------------------------------------------------------------
def _vectorised_between(column, min_value, max_value, strict_min, strict_max):
    if min_value is None:
        return column < max_value if strict_max else column <= max_value
    if max_value is None:
        return min_value < column if strict_min else min_value <= column
    low = (min_value < column) if strict_min else (min_value <= column)
    high = (column < max_value) if strict_max else (column <= max_value)
    return low & high


@register("expect_column_values_to_be_between", "column", BOUNDS, fields=ComparableBounds)
def between(column, min_value=None, max_value=None, strict_min=None, strict_max=None):
    if min_value is None and max_value is None:
        raise ValueError("min_value and max_value cannot both be None")
    if min_value is not None and max_value is not None and min_value > max_value:
        raise ValueError("min_value cannot be greater than max_value")
    if column.dtype in [int, float]:
        return _vectorised_between(column, min_value, max_value, strict_min, strict_max)
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_ns_dtype(column.dtype):
        from dateutil.parser import parse

        min_value = parse(min_value) if isinstance(min_value, str) else min_value
        max_value = parse(max_value) if isinstance(max_value, str) else max_value
        return _vectorised_between(column, min_value, max_value, strict_min, strict_max)

    def one(value) -> bool:
        for bound in (min_value, max_value):
            if bound is not None and isinstance(value, str) != isinstance(bound, str):
                raise TypeError("Column values, min_value, and max_value must either be None or of the same type.")
        low = True if min_value is None else (value > min_value if strict_min else value >= min_value)
        high = True if max_value is None else (value < max_value if strict_max else value <= max_value)
        return bool(low and high)

    return column.map(one)


# --- uniqueness ----------------------------------------------------------------------------------
@register("expect_column_values_to_be_unique", "column")
def unique(column):
    return ~column.duplicated(keep=False)


@register("expect_compound_columns_to_be_unique", "multicolumn", defaults={"ignore_row_if": MULTICOLUMN_DEFAULT})
def compound_unique(columns: pd.DataFrame):
    return ~columns.duplicated(keep=False)


@register("expect_select_column_values_to_be_unique_within_record", "multicolumn",
          defaults={"ignore_row_if": MULTICOLUMN_DEFAULT})
def unique_within_record(columns: pd.DataFrame):
    num_columns = len(columns.columns)
    return columns.nunique(dropna=False, axis=1) >= num_columns


# --- column pairs --------------------------------------------------------------------------------
@register("expect_column_pair_values_a_to_be_greater_than_b", "pair", ("or_equal",),
          defaults={"ignore_row_if": PAIR_DEFAULT})
def a_greater_than_b(column_A, column_B, or_equal=None):
    return column_A >= column_B if or_equal else column_A > column_B


@register("expect_column_pair_values_to_be_equal", "pair", defaults={"ignore_row_if": PAIR_DEFAULT})
def pair_equal(column_A, column_B):
    return column_A == column_B
