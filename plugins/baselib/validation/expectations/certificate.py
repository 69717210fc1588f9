"""Electronic certificate expectations (GB/T 36903 metadata, GB/T 36904 identifier).

Reusable for any resource that carries certificate identifiers or certificate type codes. A
holder code valid for its code type (111 citizen ID, 001 credit code) is checked with the
organisation module's ``expect_column_pair_values_identifier_to_be_valid_for_type``.
"""
from __future__ import annotations

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from baselib.identifiers import causes, certificate_id, credit_code
from baselib.identifiers.causes import Cause
from baselib.identifiers.credit_code_column import CreditCodeColumn
from baselib.validation.expectations.common import diagnosis, present, series

TYPE_CODE_LENGTH = 21  # a credit code and 3 digits


class ColumnValuesValidCertificateIdentifier(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_certificate_identifier"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return series(certificate_id.valid_mask(column.astype(object).tolist()) | ~present(column), column)


class ExpectColumnValuesToBeValidCertificateIdentifier(ColumnMapExpectation):
    """``1.2.156.3005.2.{type}.{issuer}.{serial}.{version}.{check}`` with the ISO 7064
    MOD 37,36 check character over the four middle parts (GB/T 36904)."""

    map_metric = "column_values.valid_certificate_identifier"
    success_keys = ("mostly",)


@diagnosis("expect_column_values_to_be_valid_certificate_identifier")
def _certificate_identifier_cause(kwargs: dict, identifier: str) -> Cause | None:
    return certificate_id.diagnose(identifier)


class ColumnValuesValidCertificateTypeCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_certificate_type_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        values = column.astype("string")
        shaped = (values.str.len() == TYPE_CODE_LENGTH) & values.str[18:].str.fullmatch(r"[0-9]{3}")
        prefix_ok = CreditCodeColumn(values.str[:18].astype(object).where(values.notna(), None).tolist()).check_ok()
        return series((shaped.fillna(False).to_numpy(dtype=bool) & prefix_ok) | ~present(column), column)


class ExpectColumnValuesToBeValidCertificateTypeCode(ColumnMapExpectation):
    """证照类型代码: the defining authority's unified social credit code (valid check
    character) followed by 3 digits."""

    map_metric = "column_values.valid_certificate_type_code"
    success_keys = ("mostly",)


@diagnosis("expect_column_values_to_be_valid_certificate_type_code")
def _certificate_type_code_cause(kwargs: dict, code: str) -> Cause | None:
    """Characters first (the credit code's alphabet, then digits), then the length, then the
    credit code's check character."""
    if any(ch not in credit_code.ALPHABET for ch in code[:18]):
        return credit_code.diagnose(code[:18])  # names the character; positions are the same
    tail = [i for i in range(18, len(code)) if not "0" <= code[i] <= "9"]
    if tail:
        return causes.bad_character(code, tail, "数字", "a digit")
    if len(code) != TYPE_CODE_LENGTH:
        return causes.wrong_length(len(code), TYPE_CODE_LENGTH)
    head = credit_code.diagnose(code[:18])
    return None if head is None else causes.within("前 18 位统一社会信用代码", "the credit code in the first 18 characters", head)
