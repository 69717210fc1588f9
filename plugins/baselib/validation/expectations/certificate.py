"""Electronic certificate expectations (GB/T 36903 metadata, GB/T 36904 identifier).

Reusable for any resource that carries certificate identifiers, certificate type codes, or a
holder code with its code type.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation, ColumnPairMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnPairMapMetricProvider,
    column_pair_condition_partial,
)

from baselib.identifiers import certificate_id, citizen_id, credit_code
from baselib.validation.expectations.common import series

HOLDER_CITIZEN_ID = "111"      # 持证主体代码类型: 公民身份号码
HOLDER_CREDIT_CODE = "001"     # 持证主体代码类型: 统一社会信用代码


class ColumnValuesValidCertificateIdentifier(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_certificate_identifier"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return series(certificate_id.valid_mask(column.astype(object).tolist()), column)


class ExpectColumnValuesToBeValidCertificateIdentifier(ColumnMapExpectation):
    """``1.2.156.3005.2.{type}.{issuer}.{serial}.{version}.{check}`` with the ISO 7064
    MOD 37,36 check character over the four middle parts (GB/T 36904)."""

    map_metric = "column_values.valid_certificate_identifier"
    success_keys = ("mostly",)


class ColumnValuesValidCertificateTypeCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_certificate_type_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        text = column.astype("string")
        shaped = (text.str.len() == 21) & text.str[18:].str.fullmatch(r"\d{3}")
        prefix_ok = credit_code.valid_mask(text.str[:18].astype(object).tolist())
        return series(shaped.fillna(False).to_numpy(dtype=bool) & prefix_ok, column)


class ExpectColumnValuesToBeValidCertificateTypeCode(ColumnMapExpectation):
    """证照类型代码: the defining authority's unified social credit code (valid check
    character) followed by 3 digits."""

    map_metric = "column_values.valid_certificate_type_code"
    success_keys = ("mostly",)


class ColumnPairHolderCodeMatchesType(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.holder_code_matches_type"
    condition_domain_keys = ("column_A", "column_B", "ignore_row_if")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A, column_B, **kwargs):
        codes = column_A.astype(object).tolist()
        kinds = column_B.astype(object).to_numpy()
        citizen = citizen_id.IdColumn(codes).valid()
        organisation = credit_code.valid_mask(codes)
        ok = np.where(kinds == HOLDER_CITIZEN_ID, citizen, np.where(kinds == HOLDER_CREDIT_CODE, organisation, False))
        return series(ok.astype(bool), column_A)


class ExpectColumnPairValuesHolderCodeToMatchItsType(ColumnPairMapExpectation):
    """The holder code (A) is valid for its code type (B): 111 a citizen ID number, 001 a
    unified social credit code. Any other type fails."""

    map_metric = "column_pair_values.holder_code_matches_type"
    success_keys = ("mostly", "ignore_row_if")
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = "either_value_is_missing"
