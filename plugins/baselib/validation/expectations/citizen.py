"""Citizen identity number expectations (GB 11643-1999): check character, and birth date and
sex consistent with the ID. Reusable for any column of citizen IDs.

A malformed ID fails the ID check alone, with one cause (see ``citizen_id.diagnose``): the
birth-date and sex checks read only IDs of 17 digits plus a digit or X, and pass the others."""
from __future__ import annotations

from typing import Literal

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnPairMapMetricProvider,
    column_pair_condition_partial,
)

from baselib.validation.expectations.common import series
from baselib.validation.vectorised import identifiers


# --- citizen ID check character --------------------------------------------------------------
class ColumnValuesValidCitizenId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_citizen_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return series(identifiers.valid_citizen_id(column), column)


class ExpectColumnValuesToBeValidCitizenId(ColumnMapExpectation):
    """18-character citizen identity number (GB 11643-1999): 17 digits, a real birth date, and
    the ISO 7064 MOD 11-2 check character. The empty text passes (it is a missing value)."""

    map_metric = "column_values.valid_citizen_id"
    success_keys = ("mostly",)


# --- birth date consistent with the ID --------------------------------------------------------
class ColumnPairCitizenIdMatchesBirthDate(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.citizen_id_matches_birth_date"
    condition_domain_keys = ("column_A", "column_B", "ignore_row_if")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A, column_B, **kwargs):
        return series(identifiers.citizen_id_matches_birth_date(column_A, column_B), column_A)


class ExpectColumnPairValuesCitizenIdToMatchBirthDate(ColumnPairMapExpectation):
    """The birth date column (B) equals the date encoded in the citizen ID (A), characters 7-14.
    An ID without a readable birth date passes: the ID check reports it."""

    map_metric = "column_pair_values.citizen_id_matches_birth_date"
    success_keys = ("mostly", "ignore_row_if")
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = "either_value_is_missing"


# --- sex consistent with the ID ---------------------------------------------------------------
class ColumnPairCitizenIdMatchesSex(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.citizen_id_matches_sex"
    condition_domain_keys = ("column_A", "column_B", "ignore_row_if")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A, column_B, **kwargs):
        return series(identifiers.citizen_id_matches_sex(column_A, column_B), column_A)


class ExpectColumnPairValuesCitizenIdToMatchSex(ColumnPairMapExpectation):
    """The GB/T 2261.1 sex code (B) agrees with the parity of the ID's sequence number (A):
    odd is 1 (male), even is 2 (female). A malformed ID passes: the ID check reports it."""

    map_metric = "column_pair_values.citizen_id_matches_sex"
    success_keys = ("mostly", "ignore_row_if")
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = "either_value_is_missing"
