"""Electronic certificate expectations (GB/T 36903 metadata, GB/T 36904 identifier).

Reusable for any resource that carries certificate identifiers or certificate type codes. A
holder code valid for its code type (111 citizen ID, 001 credit code) is checked with the
organisation module's ``expect_column_pair_values_identifier_to_be_valid_for_type``.
"""
from __future__ import annotations

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from baselib.validation.expectations.common import series
from baselib.validation.vectorised import identifiers
from baselib.validation.vectorised.identifiers import TYPE_CODE_LENGTH  # noqa: F401  (kept importable here)


class ColumnValuesValidCertificateIdentifier(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_certificate_identifier"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return series(identifiers.valid_certificate_identifier(column), column)


class ExpectColumnValuesToBeValidCertificateIdentifier(ColumnMapExpectation):
    """``1.2.156.3005.2.{type}.{issuer}.{serial}.{version}.{check}`` with the ISO 7064
    MOD 37,36 check character over the four middle parts (GB/T 36904)."""

    map_metric = "column_values.valid_certificate_identifier"
    success_keys = ("mostly",)


class ColumnValuesValidCertificateTypeCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_certificate_type_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return series(identifiers.valid_certificate_type_code(column), column)


class ExpectColumnValuesToBeValidCertificateTypeCode(ColumnMapExpectation):
    """证照类型代码: the defining authority's unified social credit code (valid check
    character) followed by 3 digits."""

    map_metric = "column_values.valid_certificate_type_code"
    success_keys = ("mostly",)
