"""Identifier checks (citizen ID, credit code and its embedded parts, organisation code,
certificate identifier and type code, an identifier valid for its declared type): the conditions
the project's GX expectations (``baselib.validation.expectations``) evaluate, defined once here so
GX and the fast path cannot drift.

Each condition takes the column(s) as GX hands them to a metric (a pandas Series over the rows
in the domain) and returns bool (n,), True where the row meets the expectation. The empty text
passes every identifier check (it is a missing value, which the catalog's checks report). The
work is vectorised over an (n x width) byte matrix (``baselib.identifiers``); Arrow-backed text is
decoded without a copy.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from baselib.identifiers import certificate_id, citizen_id, credit_code, divisions
from baselib.identifiers.byte_matrix import fixed_width_matrix
from baselib.identifiers.credit_code_column import CreditCodeColumn, org_codes_ok
from baselib.validation.vectorised.columns import as_date64, is_arrow_text, present, text_values
from baselib.validation.vectorised.registry import fields, register

TYPE_CODE_LENGTH = 21  # a certificate type code: a credit code and 3 digits
EITHER = {"ignore_row_if": "either_value_is_missing"}
# typed fields of the GX classes (baselib.validation.expectations), so literal kwargs coerce alike
INCLUDE_ABOLISHED = fields("IncludeAbolished", include_abolished=(bool, True))
ALLOWED_PAIRS = fields("AllowedPairs", allowed_pairs=(Optional[list[str]], None))
TYPE_LISTS = fields("IdentifierTypes", citizen_id_types=(list[str], ["111"]), credit_code_types=(list[str], ["001"]))

# GB 32100-2015 附录A authority -> categories: see baselib.validation.expectations.organisation
CONFIRMED_PAIRS = {"1": "12", "5": "123", "9": "123"}
ADDITIONAL_PAIRS = {"1": "39", "2": "19", "3": "123459", "4": "19", "5": "9", "6": "129", "7": "129",
                    "8": "19", "A": "19", "N": "1239", "Y": "1"}
DEFINED_PAIRS = tuple(sorted(
    {a + c for table in (CONFIRMED_PAIRS, ADDITIONAL_PAIRS) for a, cats in table.items() for c in cats}
))


def _in(values: np.ndarray, allowed) -> np.ndarray:
    return pd.Series(values).isin(list(allowed)).to_numpy(dtype=bool)


# The suites run several checks on one identifier column (the citizen ID, its birth date and sex;
# the credit code and its three embedded parts): the last decode of each kind is kept, keyed by
# the Arrow buffers it was made from. Arrow arrays are immutable and the entry holds the array,
# so its buffers cannot be freed and reused while the entry stands.
_last: dict[type, tuple[tuple, pa.Array, object]] = {}


def _buffers_key(values) -> tuple | None:
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values] if isinstance(values, pa.Array) else None
    if chunks is None:
        return None
    return tuple((str(c.type), len(c), c.offset, tuple(0 if b is None else b.address for b in c.buffers()))
                 for c in chunks)


def decoded(kind: type, column: pd.Series):
    """``kind(text_values(column))`` (``citizen_id.IdColumn`` or ``CreditCodeColumn``), reusing the
    previous decode when ``column`` holds the very same Arrow data."""
    values = text_values(column)
    key = _buffers_key(values)
    if key is not None:
        hit = _last.get(kind)
        if hit is not None and hit[0] == key:
            return hit[2]
    result = kind(values)
    if key is not None:
        _last[kind] = (key, values, result)
    return result


# --- citizen ID (GB 11643-1999) -------------------------------------------------------------------
@register("expect_column_values_to_be_valid_citizen_id", "column")
def valid_citizen_id(column: pd.Series) -> np.ndarray:
    return decoded(citizen_id.IdColumn, column).valid() | ~present(column)


@register("expect_column_pair_values_citizen_id_to_match_birth_date", "pair", defaults=EITHER, row_condition=False)
def citizen_id_matches_birth_date(column_A: pd.Series, column_B: pd.Series) -> np.ndarray:
    """B equals the birth date in the ID (A); an ID without a readable birth date passes."""
    embedded = decoded(citizen_id.IdColumn, column_A).birth_dates()
    return np.isnat(embedded) | (embedded == as_date64(column_B))


@register("expect_column_pair_values_citizen_id_to_match_sex", "pair", defaults=EITHER, row_condition=False)
def citizen_id_matches_sex(column_A: pd.Series, column_B: pd.Series) -> np.ndarray:
    """B is the sex code the ID's (A) sequence number implies; a malformed ID passes."""
    ids = decoded(citizen_id.IdColumn, column_A)
    if is_arrow_text(column_B):  # the same comparison, without a Python string per row
        sexes = pa.array(column_B.array)
        odd = ids.sequence_is_odd()
        is_1 = pc.fill_null(pc.equal(sexes, "1"), False).to_numpy(zero_copy_only=False)
        is_2 = pc.fill_null(pc.equal(sexes, "2"), False).to_numpy(zero_copy_only=False)
        return ~ids.structured | np.where(odd, is_1, is_2)
    embedded = ids.sex_codes()
    return (embedded == "") | (embedded == column_B.astype(object).to_numpy())


# --- unified social credit code (GB 32100-2015) ----------------------------------------------------
def credit_codes(column: pd.Series) -> CreditCodeColumn:
    return decoded(CreditCodeColumn, column)


@register("expect_column_values_to_be_valid_credit_code", "column")
def valid_credit_code(column: pd.Series) -> np.ndarray:
    return credit_codes(column).check_ok() | ~present(column)


@register("expect_column_values_credit_code_to_embed_valid_org_code", "column")
def credit_code_org_code_valid(column: pd.Series) -> np.ndarray:
    return credit_codes(column).org_code_ok()


@register("expect_column_values_credit_code_to_embed_known_division", "column", ("include_abolished",),
          defaults={"include_abolished": True}, fields=INCLUDE_ABOLISHED)
def credit_code_known_division(column: pd.Series, include_abolished=True) -> np.ndarray:
    registry = divisions.load()
    known = registry.all_codes if include_abolished else registry.current_codes
    codes = credit_codes(column)
    return ~codes.well_formed | codes.division_code_in(known)


@register("expect_column_values_credit_code_to_have_defined_authority_category", "column", ("allowed_pairs",),
          defaults={"allowed_pairs": None}, fields=ALLOWED_PAIRS)
def credit_code_defined_authority_category(column: pd.Series, allowed_pairs=None) -> np.ndarray:
    allowed = set(allowed_pairs or DEFINED_PAIRS)
    codes = credit_codes(column)
    return ~codes.well_formed | codes.authority_category_in(allowed)


@register("expect_column_values_to_be_valid_organisation_code", "column")
def valid_organisation_code(column: pd.Series) -> np.ndarray:
    matrix, shaped = fixed_width_matrix(text_values(column), credit_code.ORG_LENGTH)
    return (shaped & org_codes_ok(matrix)) | ~present(column)


# --- an identifier valid for its declared type ------------------------------------------------------
@register("expect_column_pair_values_identifier_to_be_valid_for_type", "pair",
          ("citizen_id_types", "credit_code_types"),
          defaults=EITHER | {"citizen_id_types": ["111"], "credit_code_types": ["001"]}, row_condition=False,
          fields=TYPE_LISTS)
def identifier_valid_for_type(column_A: pd.Series, column_B: pd.Series, citizen_id_types=("111",),
                              credit_code_types=("001",)) -> np.ndarray:
    """B is a valid citizen ID where A is one of ``citizen_id_types``, a valid credit code where A
    is one of ``credit_code_types``; other types pass."""
    kind = column_A.astype(object).to_numpy()
    is_citizen = _in(kind, citizen_id_types or ())
    is_credit = _in(kind, credit_code_types or ())
    ok = np.ones(len(column_B), dtype=bool)
    if is_citizen.any():
        ok[is_citizen] = citizen_id.IdColumn(text_values(column_B[is_citizen])).valid()
    if is_credit.any():
        ok[is_credit] = CreditCodeColumn(text_values(column_B[is_credit])).check_ok()
    return ok | ~present(column_B)


# --- electronic certificates (GB/T 36904, GB/T 36903) ------------------------------------------------
@register("expect_column_values_to_be_valid_certificate_identifier", "column")
def valid_certificate_identifier(column: pd.Series) -> np.ndarray:
    return certificate_id.valid_mask(column.astype(object).tolist()) | ~present(column)


@register("expect_column_values_to_be_valid_certificate_type_code", "column")
def valid_certificate_type_code(column: pd.Series) -> np.ndarray:
    """A credit code with a valid check character followed by 3 ASCII digits."""
    values = column.astype("string")
    shaped = (values.str.len() == TYPE_CODE_LENGTH) & values.str[18:].str.fullmatch(r"[0-9]{3}")
    prefix_ok = CreditCodeColumn(values.str[:18].astype(object).where(values.notna(), None).tolist()).check_ok()
    return (shaped.fillna(False).to_numpy(dtype=bool) & prefix_ok) | ~present(column)
