"""Custom GX 1.x expectations for Chinese government identifiers.

Each is a map expectation (per-row yes/no) backed by a vectorised metric provider, so the
failing rows come back in ``unexpected_index_list`` and can be quarantined. Importing this
module registers them; suites refer to them by their snake_case ``type``.

Reusable across resources: any column of citizen IDs, any (ID, birth date) or (ID, sex)
pair, any division-code column, any date column that must not lie in the future.
"""
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

from baselib.identifiers import citizen_id, divisions


def _series(mask: np.ndarray, like: pd.Series) -> pd.Series:
    return pd.Series(mask, index=like.index)


def _as_date64(column: pd.Series) -> np.ndarray:
    return pd.to_datetime(column, errors="coerce").to_numpy(dtype="datetime64[D]")


# --- citizen ID check character --------------------------------------------------------------
class ColumnValuesValidCitizenId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_citizen_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return _series(citizen_id.IdColumn(column.astype(object).tolist()).valid(), column)


class ExpectColumnValuesToBeValidCitizenId(ColumnMapExpectation):
    """18-character citizen identity number (GB 11643-1999): 17 digits, a real birth date, and
    the ISO 7064 MOD 11-2 check character."""

    map_metric = "column_values.valid_citizen_id"
    success_keys = ("mostly",)


# --- birth date consistent with the ID --------------------------------------------------------
class ColumnPairCitizenIdMatchesBirthDate(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.citizen_id_matches_birth_date"
    condition_domain_keys = ("column_A", "column_B", "ignore_row_if")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A, column_B, **kwargs):
        embedded = citizen_id.IdColumn(column_A.astype(object).tolist()).birth_dates()
        return _series(embedded == _as_date64(column_B), column_A)


class ExpectColumnPairValuesCitizenIdToMatchBirthDate(ColumnPairMapExpectation):
    """The birth date column (B) equals the date encoded in the citizen ID (A), characters 7-14."""

    map_metric = "column_pair_values.citizen_id_matches_birth_date"
    success_keys = ("mostly", "ignore_row_if")
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = "either_value_is_missing"


# --- sex consistent with the ID ---------------------------------------------------------------
class ColumnPairCitizenIdMatchesSex(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.citizen_id_matches_sex"
    condition_domain_keys = ("column_A", "column_B", "ignore_row_if")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A, column_B, **kwargs):
        embedded = citizen_id.IdColumn(column_A.astype(object).tolist()).sex_codes()
        return _series(embedded == column_B.astype(object).to_numpy(), column_A)


class ExpectColumnPairValuesCitizenIdToMatchSex(ColumnPairMapExpectation):
    """The GB/T 2261.1 sex code (B) agrees with the parity of the ID's sequence number (A):
    odd is 1 (male), even is 2 (female)."""

    map_metric = "column_pair_values.citizen_id_matches_sex"
    success_keys = ("mostly", "ignore_row_if")
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = "either_value_is_missing"


# --- division code known -----------------------------------------------------------------------
class ColumnValuesKnownDivisionCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.known_division_code"
    condition_value_keys = ("include_abolished",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, include_abolished=True, **kwargs):
        registry = divisions.load()
        known = registry.all_codes if include_abolished else registry.current_codes
        return column.astype(object).isin(known)


class ExpectColumnValuesToBeKnownDivisionCode(ColumnMapExpectation):
    """A GB/T 2260 division code that exists in the 1981-2024 history (abolished codes count
    unless ``include_abolished`` is false)."""

    map_metric = "column_values.known_division_code"
    success_keys = ("mostly", "include_abolished")
    include_abolished: bool = True


# --- not in the future -------------------------------------------------------------------------
class ColumnValuesNotInTheFuture(ColumnMapMetricProvider):
    condition_metric_name = "column_values.not_in_the_future"
    condition_value_keys = ("as_of",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, as_of, **kwargs):
        limit = np.datetime64(pd.Timestamp(as_of).date(), "D")
        return _series(_as_date64(column) <= limit, column)


class ExpectColumnValuesToNotBeInTheFuture(ColumnMapExpectation):
    """A date on or before ``as_of`` (pass ``{"$PARAMETER": "as_of"}``: the run's data interval end)."""

    map_metric = "column_values.not_in_the_future"
    success_keys = ("mostly", "as_of")
    as_of: str | dict
