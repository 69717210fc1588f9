"""Expectations for any resource: division codes known in GB/T 2260, dates not in the future.
Also the helpers the identifier-specific modules share, and the registry of diagnoses: for an
expectation whose static ``meta.reason`` cannot say exactly what is wrong with a value (which
character, which length, which check character), a function that names the real cause of each
failing row."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine

from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnPairMapMetricProvider,
    column_pair_condition_partial,
)

from baselib.identifiers import divisions
from baselib.identifiers.causes import Cause

# The catalog's maximum-length check: an identifier's own diagnosis names the length (or the stray
# character that makes the value too long), so the row gets that one reason, not two.
LENGTH_CHECK = "expect_column_value_lengths_to_be_between"


@dataclass(frozen=True)
class Diagnosis:
    """How to explain a failing row of one expectation type.

    ``explain(kwargs, *values) -> Cause | None`` gets the expectation's kwargs and the row's text
    values of the columns named by ``inputs`` (kwarg names, e.g. ``("column",)``); None keeps the
    static ``meta.reason``. ``subject`` is the kwarg naming the column the reason is about.
    ``covers``: expectation types on the same column whose failure on the same row has this cause
    too.
    """

    explain: Callable[..., Cause | None]
    inputs: tuple[str, ...]
    subject: str
    covers: tuple[str, ...]


DIAGNOSES: dict[str, Diagnosis] = {}


def diagnosis(expectation_type: str, inputs: tuple[str, ...] = ("column",), subject: str = "column",
              covers: tuple[str, ...] = (LENGTH_CHECK,)):
    """Register the decorated ``explain`` function as the :class:`Diagnosis` of ``expectation_type``."""
    def register(explain: Callable[..., Cause | None]) -> Callable[..., Cause | None]:
        DIAGNOSES[expectation_type] = Diagnosis(explain, inputs, subject, covers)
        return explain
    return register


def present(column: pd.Series) -> np.ndarray:
    """False where the value is the empty text: a missing value, which the catalog's not-null and
    minimum-length checks report (once); an identifier check passes it."""
    return (column.astype(object) != "").to_numpy(dtype=bool)


def series(mask: np.ndarray, like: pd.Series) -> pd.Series:
    """A boolean mask as a Series aligned with the column GX passed in."""
    return pd.Series(mask, index=like.index)


def as_date64(column: pd.Series) -> np.ndarray:
    return pd.to_datetime(column, errors="coerce").to_numpy(dtype="datetime64[D]")


# --- division code known -----------------------------------------------------------------------
class ColumnValuesKnownDivisionCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.known_division_code"
    condition_value_keys = ("include_abolished",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, include_abolished=True, **kwargs):
        registry = divisions.load()
        known = registry.all_codes if include_abolished else registry.current_codes
        return column.astype(object).isin(known) | ~present(column)


class ExpectColumnValuesToBeKnownDivisionCode(ColumnMapExpectation):
    """A GB/T 2260 division code that exists in the 1981-2024 history (abolished codes count
    unless ``include_abolished`` is false). The empty text passes (it is a missing value)."""

    map_metric = "column_values.known_division_code"
    success_keys = ("mostly", "include_abolished")
    include_abolished: bool = True


@diagnosis("expect_column_values_to_be_known_division_code")
def _division_cause(kwargs: dict, code: str) -> Cause | None:
    return divisions.load().diagnose(code, kwargs.get("include_abolished", True))


# --- division name consistent with its code ------------------------------------------------------
class ColumnPairDivisionNameMatchesCode(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.division_name_matches_code"
    condition_domain_keys = ("column_A", "column_B", "ignore_row_if")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A, column_B, **kwargs):
        registry = divisions.load()
        names = {code: {r.name for r in rows} for code, rows in registry.by_code.items()}
        ok = [str(name).strip() in names.get(code, ()) for code, name in zip(column_A.astype(object), column_B.astype(object))]
        return series(np.array(ok, dtype=bool), column_A)


class ExpectColumnPairValuesDivisionNameToMatchCode(ColumnPairMapExpectation):
    """Column B is a name the GB/T 2260 reference gives the code in column A (any of its names
    over time, since a division can be renamed while keeping its code)."""

    map_metric = "column_pair_values.division_name_matches_code"
    success_keys = ("mostly", "ignore_row_if")
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = "either_value_is_missing"


# --- not in the future -------------------------------------------------------------------------
class ColumnValuesNotInTheFuture(ColumnMapMetricProvider):
    condition_metric_name = "column_values.not_in_the_future"
    condition_value_keys = ("as_of",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, as_of, **kwargs):
        limit = np.datetime64(pd.Timestamp(as_of).date(), "D")
        return series(as_date64(column) <= limit, column)


class ExpectColumnValuesToNotBeInTheFuture(ColumnMapExpectation):
    """A date on or before ``as_of`` (pass ``{"$PARAMETER": "as_of"}``: the run's data interval end)."""

    map_metric = "column_values.not_in_the_future"
    success_keys = ("mostly", "as_of")
    as_of: str | dict
