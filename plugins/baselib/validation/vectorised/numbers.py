"""Numbers carried as exact-decimal text (catalog types N/Y): a number between bounds. Shared by
GX (``expectations.organisation``) and the fast path."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from baselib.validation.vectorised.registry import fields, register

BOUNDS = fields("NumberBounds", min_value=(Optional[float], None), max_value=(Optional[float], None))


@register("expect_column_values_to_be_number_between", "column", ("min_value", "max_value"), fields=BOUNDS)
def number_between(column: pd.Series, min_value=None, max_value=None) -> np.ndarray:
    """The value parses as a number (``pd.to_numeric``) within [min_value, max_value]; text that is
    not a number fails."""
    numbers = pd.to_numeric(column.astype(object), errors="coerce").to_numpy(dtype=float)
    ok = ~np.isnan(numbers)
    if min_value is not None:
        ok &= numbers >= float(min_value)
    if max_value is not None:
        ok &= numbers <= float(max_value)
    return ok
