"""Checks against the GB/T 2260 division reference (``include/reference``): a known division code,
and a division name consistent with its code. Shared by GX (``expectations.common``) and the fast path.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from baselib.identifiers import divisions
from baselib.validation.vectorised.columns import is_arrow_text, present
from baselib.validation.vectorised.identifiers import INCLUDE_ABOLISHED
from baselib.validation.vectorised.registry import register


@register("expect_column_values_to_be_known_division_code", "column", ("include_abolished",),
          defaults={"include_abolished": True}, fields=INCLUDE_ABOLISHED)
def known_division_code(column: pd.Series, include_abolished=True) -> np.ndarray:
    """A code in the 1981-2024 history (only codes in use when ``include_abolished`` is false);
    the empty text passes."""
    registry = divisions.load()
    known = registry.all_codes if include_abolished else registry.current_codes
    if is_arrow_text(column):
        values = pa.array(column.array)
        found = pc.is_in(values, value_set=pa.array(sorted(known), type=values.type))
        return pc.fill_null(found, False).to_numpy(zero_copy_only=False) | ~present(column)
    return column.astype(object).isin(known).to_numpy(dtype=bool) | ~present(column)


@functools.lru_cache(maxsize=1)
def _names_by_code(registry: divisions.DivisionCodes) -> dict[str, frozenset[str]]:
    return {code: frozenset(r.name for r in rows) for code, rows in registry.by_code.items()}


@register("expect_column_pair_values_division_name_to_match_code", "pair",
          defaults={"ignore_row_if": "either_value_is_missing"}, row_condition=False)
def division_name_matches_code(column_A: pd.Series, column_B: pd.Series) -> np.ndarray:
    """B (stripped of surrounding blanks) is one of the names the reference gives code A over time."""
    names = _names_by_code(divisions.load())
    ok = [str(name).strip() in names.get(code, ()) for code, name in zip(column_A.astype(object), column_B.astype(object))]
    return np.array(ok, dtype=bool)
