"""Date checks: not in the future (against the run's ``as_of``), dates in order across columns.
Values are read as dates with ``pd.to_datetime`` (errors coerced): a value that is not a date is
NaT, which fails "not in the future" and is skipped by "in order". Shared by GX
(``expectations.common``, ``expectations.organisation``) and the fast path.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from baselib.validation.vectorised.columns import as_date64
from baselib.validation.vectorised.registry import register


@register("expect_column_values_to_not_be_in_the_future", "column", ("as_of",))
def not_in_the_future(column: pd.Series, as_of=None) -> np.ndarray:
    """The date is on or before the calendar date of ``as_of`` (a timestamp or its ISO text)."""
    limit = np.datetime64(pd.Timestamp(as_of).date(), "D")
    return as_date64(column) <= limit


@register("expect_multicolumn_dates_to_be_in_order", "multicolumn",
          defaults={"ignore_row_if": "all_values_are_missing"})
def dates_in_order(columns: pd.DataFrame) -> np.ndarray:
    """Every present date is on or after every present date in an earlier column."""
    dates = np.stack([as_date64(columns[c]) for c in columns.columns], axis=1)
    ok = np.ones(len(columns), dtype=bool)
    for later in range(1, dates.shape[1]):
        for earlier in range(later):
            a, b = dates[:, earlier], dates[:, later]
            both = ~np.isnat(a) & ~np.isnat(b)
            ok &= ~both | (a <= b)
    return ok
