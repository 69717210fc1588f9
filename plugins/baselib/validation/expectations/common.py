"""Expectations for any resource: division codes known in GB/T 2260, dates not in the future.
Also the helpers the identifier-specific modules share, and the registry of diagnoses: for an
expectation whose static ``meta.reason`` cannot say exactly what is wrong with a value (which
character, which length, which check character), a function that names the real cause of each
failing row."""
from __future__ import annotations

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

from baselib.validation.vectorised import dates, reference
from baselib.validation.vectorised.columns import as_date64, present  # noqa: F401  (shared by the families)

# The registry of diagnoses lives GX-free in baselib.validation.diagnoses (the executor needs it
# without GX); these names stay importable from here.
from baselib.validation.diagnoses import DIAGNOSES, LENGTH_CHECK, Diagnosis, diagnosis  # noqa: F401


def series(mask: np.ndarray, like: pd.Series) -> pd.Series:
    """A boolean mask as a Series aligned with the column GX passed in."""
    return pd.Series(mask, index=like.index)


# --- division code known -----------------------------------------------------------------------
class ColumnValuesKnownDivisionCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.known_division_code"
    condition_value_keys = ("include_abolished",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, include_abolished=True, **kwargs):
        return series(reference.known_division_code(column, include_abolished), column)


class ExpectColumnValuesToBeKnownDivisionCode(ColumnMapExpectation):
    """A GB/T 2260 division code that exists in the 1981-2024 history (abolished codes count
    unless ``include_abolished`` is false). The empty text passes (it is a missing value)."""

    map_metric = "column_values.known_division_code"
    success_keys = ("mostly", "include_abolished")
    include_abolished: bool = True


# --- division name consistent with its code ------------------------------------------------------
class ColumnPairDivisionNameMatchesCode(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.division_name_matches_code"
    condition_domain_keys = ("column_A", "column_B", "ignore_row_if")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A, column_B, **kwargs):
        return series(reference.division_name_matches_code(column_A, column_B), column_A)


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
        return series(dates.not_in_the_future(column, as_of), column)


class ExpectColumnValuesToNotBeInTheFuture(ColumnMapExpectation):
    """A date on or before ``as_of`` (pass ``{"$PARAMETER": "as_of"}``: the run's data interval end)."""

    map_metric = "column_values.not_in_the_future"
    success_keys = ("mostly", "as_of")
    as_of: str | dict
