"""Organisation expectations: the unified social credit code (GB 32100-2015) and the organisation
code embedded in it (GB 11714-1997), an identifier valid for its declared type, and dates in order.

All are vectorised over the whole column (an N x 18 byte matrix, as ``citizen_id.IdColumn`` does)
and take their column names from kwargs, so any resource can reuse them: the legal-entity base
library on ``credit_code``, the certificate library on its holder and issuer codes. A code that is
not 18 symbols of the GB 32100 alphabet fails the credit-code check alone, with one cause (see
``credit_code.diagnose``); the checks of its embedded parts pass it. The empty text passes every
identifier check (it is a missing value, which the catalog's checks report).

Authority/category pairs (GB 32100-2015, 附录A 登记管理部门代码和机构类别代码):

* Confirmed in ``shared/domain.md``: 1 编制 → 1 机关, 2 事业单位; 5 民政 → 1 社会团体,
  2 民办非企业单位, 3 基金会; 9 工商 → 1 企业, 2 个体工商户, 3 农民专业合作社.
* Additions from the published appendix as commonly reproduced, NOT verified against the
  standard's own text (so kept in a separate table, and replaceable with ``allowed_pairs``):
  1 → 3 群众团体, 9 其他; 2 外交 → 1, 9; 3 司法行政 → 1-5, 9; 4 文化 → 1, 9; 5 → 9 其他;
  6 旅游 → 1, 2, 9; 7 宗教 → 1, 2, 9; 8 工会 → 1, 9; A 军队 → 1, 9;
  N 农业 → 1 组级, 2 村级, 3 乡镇级集体经济组织, 9 其他; Y 其他 → 1.
"""
from __future__ import annotations

from typing import Literal

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnPairMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_pair_condition_partial,
    multicolumn_condition_partial,
)

from baselib.identifiers.credit_code_column import CreditCodeColumn  # noqa: F401  (kept importable here)
from baselib.validation.expectations.common import series
from baselib.validation.vectorised import dates, identifiers, numbers

# authority -> categories (see the module docstring for which are confirmed and which are additions),
# defined with the conditions in baselib.validation.vectorised.identifiers
from baselib.validation.vectorised.identifiers import ADDITIONAL_PAIRS, CONFIRMED_PAIRS, DEFINED_PAIRS  # noqa: F401

# --- credit code check character ---------------------------------------------------------------
class ColumnValuesValidCreditCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_credit_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return series(identifiers.valid_credit_code(column), column)


class ExpectColumnValuesToBeValidCreditCode(ColumnMapExpectation):
    """18-character unified social credit code (GB 32100-2015): symbols of the 31-symbol alphabet
    (no I, O, Z, S, V) and the MOD 31 check character. Codes starting with a letter (N…, Y…) are
    valid when their check character is."""

    map_metric = "column_values.valid_credit_code"
    success_keys = ("mostly",)


# --- embedded organisation code ------------------------------------------------------------------
class ColumnValuesCreditCodeOrgCodeValid(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_code_org_code_valid"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return series(identifiers.credit_code_org_code_valid(column), column)


class ExpectColumnValuesCreditCodeToEmbedValidOrgCode(ColumnMapExpectation):
    """Characters 9-17 of a credit code are a GB 11714 organisation code whose own check character
    (weights 3 7 9 10 5 8 4 2, MOD 11, 10 → X) is right. A malformed code passes."""

    map_metric = "column_values.credit_code_org_code_valid"
    success_keys = ("mostly",)


# --- organisation code on its own ------------------------------------------------------------------
class ColumnValuesValidOrganisationCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_organisation_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return series(identifiers.valid_organisation_code(column), column)


class ExpectColumnValuesToBeValidOrganisationCode(ColumnMapExpectation):
    """9-character organisation code (GB 11714-1997): 8 digits or capital letters and the check
    character (weights 3 7 9 10 5 8 4 2, MOD 11, 10 → X, 11 → 0)."""

    map_metric = "column_values.valid_organisation_code"
    success_keys = ("mostly",)


# --- embedded division code ----------------------------------------------------------------------
class ColumnValuesCreditCodeKnownDivision(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_code_known_division"
    condition_value_keys = ("include_abolished",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, include_abolished=True, **kwargs):
        return series(identifiers.credit_code_known_division(column, include_abolished), column)


class ExpectColumnValuesCreditCodeToEmbedKnownDivision(ColumnMapExpectation):
    """Characters 3-8 of a credit code are a GB/T 2260 division code known in the 1981-2024
    history (an organisation keeps its code after its county is abolished). A malformed code passes."""

    map_metric = "column_values.credit_code_known_division"
    success_keys = ("mostly", "include_abolished")
    include_abolished: bool = True


# --- authority / category pair -------------------------------------------------------------------
class ColumnValuesCreditCodeDefinedAuthorityCategory(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_code_defined_authority_category"
    condition_value_keys = ("allowed_pairs",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, allowed_pairs=None, **kwargs):
        return series(identifiers.credit_code_defined_authority_category(column, allowed_pairs), column)


class ExpectColumnValuesCreditCodeToHaveDefinedAuthorityCategory(ColumnMapExpectation):
    """Characters 1-2 (registration authority + organisation category) are a pair GB 32100 defines.
    ``allowed_pairs`` (e.g. ``["91", "92", "93"]``) narrows or replaces the default table. A
    malformed code passes."""

    map_metric = "column_values.credit_code_defined_authority_category"
    success_keys = ("mostly", "allowed_pairs")
    allowed_pairs: list[str] | None = None


# --- identifier valid for its declared type ------------------------------------------------------
class ColumnPairIdentifierValidForType(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.identifier_valid_for_type"
    condition_domain_keys = ("column_A", "column_B", "ignore_row_if")
    condition_value_keys = ("citizen_id_types", "credit_code_types")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A, column_B, citizen_id_types=("111",), credit_code_types=("001",), **kwargs):
        return series(identifiers.identifier_valid_for_type(column_A, column_B, citizen_id_types, credit_code_types),
                      column_A)


class ExpectColumnPairValuesIdentifierToBeValidForType(ColumnPairMapExpectation):
    """The identifier in column B is valid for the type code in column A: a citizen ID (GB 11643)
    when A is one of ``citizen_id_types`` (default ``["111"]``), a credit code (GB 32100) when A is
    one of ``credit_code_types`` (default ``["001"]``). Other types (passports, permits) pass."""

    map_metric = "column_pair_values.identifier_valid_for_type"
    success_keys = ("mostly", "ignore_row_if", "citizen_id_types", "credit_code_types")
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = "either_value_is_missing"
    citizen_id_types: list[str] = ["111"]
    credit_code_types: list[str] = ["001"]


# --- dates in order ------------------------------------------------------------------------------
class MulticolumnDatesInOrder(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.dates_in_order"
    condition_domain_keys = ("batch_id", "table", "column_list", "row_condition", "condition_parser", "ignore_row_if")
    condition_value_keys = ()

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list, **kwargs):
        return series(dates.dates_in_order(column_list), column_list)


class ExpectMulticolumnDatesToBeInOrder(MulticolumnMapExpectation):
    """The dates in ``column_list`` never go backwards, left to right (equal is fine); a missing
    date (e.g. a business term end of 长期) is skipped. Pass ``"ignore_row_if": "never"``."""

    map_metric = "multicolumn_values.dates_in_order"
    success_keys = ("mostly", "ignore_row_if")


# --- numeric bounds on an exact-decimal (text) column ----------------------------------------------
class ColumnValuesNumberBetween(ColumnMapMetricProvider):
    condition_metric_name = "column_values.number_between"
    condition_value_keys = ("min_value", "max_value")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, min_value=None, max_value=None, **kwargs):
        return series(numbers.number_between(column, min_value, max_value), column)


class ExpectColumnValuesToBeNumberBetween(ColumnMapExpectation):
    """A number between ``min_value`` and ``max_value`` (inclusive). Works on columns that carry
    exact decimals as text (catalog type N/Y travel as strings): a value that is not a number fails."""

    map_metric = "column_values.number_between"
    success_keys = ("mostly", "min_value", "max_value")
    min_value: float | None = None
    max_value: float | None = None
