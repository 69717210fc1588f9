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

import numpy as np
import pandas as pd
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

from baselib.identifiers import citizen_id, credit_code, divisions
from baselib.identifiers.byte_matrix import fixed_width_matrix
from baselib.identifiers.causes import Cause, within
from baselib.identifiers.credit_code_column import CreditCodeColumn, org_codes_ok
from baselib.validation.expectations.common import as_date64, diagnosis, present, series


# authority -> categories; see the module docstring for which are confirmed and which are additions
CONFIRMED_PAIRS = {"1": "12", "5": "123", "9": "123"}
ADDITIONAL_PAIRS = {"1": "39", "2": "19", "3": "123459", "4": "19", "5": "9", "6": "129", "7": "129",
                    "8": "19", "A": "19", "N": "1239", "Y": "1"}
DEFINED_PAIRS = tuple(sorted(
    {a + c for table in (CONFIRMED_PAIRS, ADDITIONAL_PAIRS) for a, cats in table.items() for c in cats}
))

# --- credit code check character ---------------------------------------------------------------
class ColumnValuesValidCreditCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_credit_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return series(CreditCodeColumn.of(column).check_ok() | ~present(column), column)


class ExpectColumnValuesToBeValidCreditCode(ColumnMapExpectation):
    """18-character unified social credit code (GB 32100-2015): symbols of the 31-symbol alphabet
    (no I, O, Z, S, V) and the MOD 31 check character. Codes starting with a letter (N…, Y…) are
    valid when their check character is."""

    map_metric = "column_values.valid_credit_code"
    success_keys = ("mostly",)


@diagnosis("expect_column_values_to_be_valid_credit_code")
def _credit_code_cause(kwargs: dict, code: str) -> Cause | None:
    return credit_code.diagnose(code)


# --- embedded organisation code ------------------------------------------------------------------
class ColumnValuesCreditCodeOrgCodeValid(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_code_org_code_valid"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return series(CreditCodeColumn.of(column).org_code_ok(), column)


class ExpectColumnValuesCreditCodeToEmbedValidOrgCode(ColumnMapExpectation):
    """Characters 9-17 of a credit code are a GB 11714 organisation code whose own check character
    (weights 3 7 9 10 5 8 4 2, MOD 11, 10 → X) is right. A malformed code passes."""

    map_metric = "column_values.credit_code_org_code_valid"
    success_keys = ("mostly",)


@diagnosis("expect_column_values_credit_code_to_embed_valid_org_code")
def _embedded_org_code_cause(kwargs: dict, code: str) -> Cause | None:
    cause = credit_code.diagnose_org_code(code[8:17])
    return None if cause is None else within(f"第 9–17 位组织机构代码 {code[8:17]} ",
                                             f"the embedded organisation code {code[8:17]} (characters 9-17)", cause)


# --- organisation code on its own ------------------------------------------------------------------
class ColumnValuesValidOrganisationCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_organisation_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        matrix, shaped = fixed_width_matrix(column.astype(object).where(column.notna(), None).tolist(),
                                            credit_code.ORG_LENGTH)
        return series((shaped & org_codes_ok(matrix)) | ~present(column), column)


class ExpectColumnValuesToBeValidOrganisationCode(ColumnMapExpectation):
    """9-character organisation code (GB 11714-1997): 8 digits or capital letters and the check
    character (weights 3 7 9 10 5 8 4 2, MOD 11, 10 → X, 11 → 0)."""

    map_metric = "column_values.valid_organisation_code"
    success_keys = ("mostly",)


@diagnosis("expect_column_values_to_be_valid_organisation_code")
def _organisation_code_cause(kwargs: dict, code: str) -> Cause | None:
    return credit_code.diagnose_org_code(code)


# --- embedded division code ----------------------------------------------------------------------
class ColumnValuesCreditCodeKnownDivision(ColumnMapMetricProvider):
    condition_metric_name = "column_values.credit_code_known_division"
    condition_value_keys = ("include_abolished",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, include_abolished=True, **kwargs):
        registry = divisions.load()
        known = registry.all_codes if include_abolished else registry.current_codes
        codes = CreditCodeColumn.of(column)
        return series(~codes.well_formed | pd.Series(codes.division_codes()).isin(known).to_numpy(), column)


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
        allowed = set(allowed_pairs or DEFINED_PAIRS)
        codes = CreditCodeColumn.of(column)
        return series(~codes.well_formed | pd.Series(codes.authority_category()).isin(allowed).to_numpy(), column)


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
        kind = column_A.astype(object).to_numpy()
        numbers = column_B.astype(object).where(column_B.notna(), None).tolist()
        is_citizen = pd.Series(kind).isin(list(citizen_id_types or ())).to_numpy()
        is_credit = pd.Series(kind).isin(list(credit_code_types or ())).to_numpy()
        ok = np.ones(len(numbers), dtype=bool)
        if is_citizen.any():
            ok[is_citizen] = citizen_id.IdColumn([numbers[i] for i in np.flatnonzero(is_citizen)]).valid()
        if is_credit.any():
            ok[is_credit] = CreditCodeColumn([numbers[i] for i in np.flatnonzero(is_credit)]).check_ok()
        return series(ok | ~present(column_B), column_A)


class ExpectColumnPairValuesIdentifierToBeValidForType(ColumnPairMapExpectation):
    """The identifier in column B is valid for the type code in column A: a citizen ID (GB 11643)
    when A is one of ``citizen_id_types`` (default ``["111"]``), a credit code (GB 32100) when A is
    one of ``credit_code_types`` (default ``["001"]``). Other types (passports, permits) pass."""

    map_metric = "column_pair_values.identifier_valid_for_type"
    success_keys = ("mostly", "ignore_row_if", "citizen_id_types", "credit_code_types")
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = "either_value_is_missing"
    citizen_id_types: list[str] = ["111"]
    credit_code_types: list[str] = ["001"]


@diagnosis("expect_column_pair_values_identifier_to_be_valid_for_type", inputs=("column_A", "column_B"),
           subject="column_B")
def _identifier_for_type_cause(kwargs: dict, kind: str, number: str) -> Cause | None:
    if kind in kwargs.get("citizen_id_types", ["111"]):
        cause, zh, en = citizen_id.diagnose(number), "公民身份号码", "citizen ID"
    elif kind in kwargs.get("credit_code_types", ["001"]):
        cause, zh, en = credit_code.diagnose(number), "统一社会信用代码", "unified social credit code"
    else:
        return None
    return None if cause is None else within(f"作为{zh}（类型 {kind}）", f"as a {en} (type {kind})", cause)


# --- dates in order ------------------------------------------------------------------------------
class MulticolumnDatesInOrder(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.dates_in_order"
    condition_domain_keys = ("batch_id", "table", "column_list", "row_condition", "condition_parser", "ignore_row_if")
    condition_value_keys = ()

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list, **kwargs):
        dates = np.stack([as_date64(column_list[c]) for c in column_list.columns], axis=1)
        ok = np.ones(len(column_list), dtype=bool)
        # every present date is on or after every present date in an earlier column
        for later in range(1, dates.shape[1]):
            for earlier in range(later):
                a, b = dates[:, earlier], dates[:, later]
                both = ~np.isnat(a) & ~np.isnat(b)
                ok &= ~both | (a <= b)
        return pd.Series(ok, index=column_list.index)


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
        numbers = pd.to_numeric(column.astype(object), errors="coerce").to_numpy(dtype=float)
        ok = ~np.isnan(numbers)
        if min_value is not None:
            ok &= numbers >= float(min_value)
        if max_value is not None:
            ok &= numbers <= float(max_value)
        return series(ok, column)


class ExpectColumnValuesToBeNumberBetween(ColumnMapExpectation):
    """A number between ``min_value`` and ``max_value`` (inclusive). Works on columns that carry
    exact decimals as text (catalog type N/Y travel as strings): a value that is not a number fails."""

    map_metric = "column_values.number_between"
    success_keys = ("mostly", "min_value", "max_value")
    min_value: float | None = None
    max_value: float | None = None
