"""The registry of diagnoses: for an expectation whose static ``meta.reason`` cannot say exactly
what is wrong with a value (which character, which length, which check character), a function
that names the real cause of each failing row.

Imports neither GX nor pandas: the executor (``baselib.validation.executor``) explains failing
rows without loading GX, and the GX expectations (``baselib.validation.expectations``) re-export
these names from their old place (``expectations.common.DIAGNOSES``, ``diagnosis``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from baselib.identifiers import causes, certificate_id, citizen_id, credit_code, divisions
from baselib.identifiers.causes import Cause, within

# The catalog's maximum-length check: an identifier's own diagnosis names the length (or the stray
# character that makes the value too long), so the row gets that one reason, not two.
LENGTH_CHECK = "expect_column_value_lengths_to_be_between"
CERTIFICATE_TYPE_CODE_LENGTH = 21  # a credit code and 3 digits


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


@diagnosis("expect_column_values_to_be_known_division_code")
def _division_cause(kwargs: dict, code: str) -> Cause | None:
    return divisions.load().diagnose(code, kwargs.get("include_abolished", True))


@diagnosis("expect_column_values_to_be_valid_citizen_id")
def _citizen_id_cause(kwargs: dict, number: str) -> Cause | None:
    return citizen_id.diagnose(number)


@diagnosis("expect_column_values_to_be_valid_credit_code")
def _credit_code_cause(kwargs: dict, code: str) -> Cause | None:
    return credit_code.diagnose(code)


@diagnosis("expect_column_values_credit_code_to_embed_valid_org_code")
def _embedded_org_code_cause(kwargs: dict, code: str) -> Cause | None:
    cause = credit_code.diagnose_org_code(code[8:17])
    return None if cause is None else within(f"第 9–17 位组织机构代码 {code[8:17]} ",
                                             f"the embedded organisation code {code[8:17]} (characters 9-17)", cause)


@diagnosis("expect_column_values_to_be_valid_organisation_code")
def _organisation_code_cause(kwargs: dict, code: str) -> Cause | None:
    return credit_code.diagnose_org_code(code)


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


@diagnosis("expect_column_values_to_be_valid_certificate_identifier")
def _certificate_identifier_cause(kwargs: dict, identifier: str) -> Cause | None:
    return certificate_id.diagnose(identifier)


@diagnosis("expect_column_values_to_be_valid_certificate_type_code")
def _certificate_type_code_cause(kwargs: dict, code: str) -> Cause | None:
    """Characters first (the credit code's alphabet, then digits), then the length, then the
    credit code's check character."""
    if any(ch not in credit_code.ALPHABET for ch in code[:18]):
        return credit_code.diagnose(code[:18])  # names the character; positions are the same
    tail = [i for i in range(18, len(code)) if not "0" <= code[i] <= "9"]
    if tail:
        return causes.bad_character(code, tail, "数字", "a digit")
    if len(code) != CERTIFICATE_TYPE_CODE_LENGTH:
        return causes.wrong_length(len(code), CERTIFICATE_TYPE_CODE_LENGTH)
    head = credit_code.diagnose(code[:18])
    return None if head is None else causes.within("前 18 位统一社会信用代码", "the credit code in the first 18 characters", head)
