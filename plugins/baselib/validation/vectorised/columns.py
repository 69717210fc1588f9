"""Column helpers shared by the fast path and the GX metric providers: the empty text as a missing
value, dates, text as Arrow. Pure pandas/NumPy/pyarrow; no Great Expectations.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def is_arrow_text(column: pd.Series) -> bool:
    """True for pandas' Arrow-backed text dtypes (pandas 3's default ``str``), whose values can be
    handed to pyarrow without copying."""
    dtype = column.dtype
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


def present(column: pd.Series) -> np.ndarray:
    """bool (n,): False where the value is the empty text, a missing value which the catalog's
    not-null and minimum-length checks report (once); an identifier check passes it. Any other
    value, NULL included, is True."""
    if is_arrow_text(column):
        return (column != "").to_numpy(dtype=bool, na_value=True)
    return (column.astype(object) != "").to_numpy(dtype=bool)


def as_date64(column: pd.Series) -> np.ndarray:
    """datetime64[D] (n,): each value read as a date (``pd.to_datetime``, errors coerced); NaT
    where it is missing or not a date. A column of ``datetime.date`` objects (how Arrow date32
    reads back into pandas) is converted by Arrow, with the same result, many times faster."""
    if column.dtype == object and len(column):
        try:
            dates = pa.array(column.to_numpy(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            dates = None
        if dates is not None and pa.types.is_date32(dates.type):
            return dates.to_numpy(zero_copy_only=False).astype("datetime64[D]")
    return pd.to_datetime(column, errors="coerce").to_numpy(dtype="datetime64[D]")


def text_values(column: pd.Series) -> pa.Array | list:
    """The column's values for :func:`baselib.identifiers.byte_matrix.fixed_width_matrix`: the
    Arrow array itself for Arrow-backed text (no copy), else a list of Python objects with missing
    values as None. A value that is neither text nor missing makes the identifier decode raise
    ``pyarrow.ArrowTypeError``, as it always has."""
    if is_arrow_text(column):
        return pa.array(column.array)
    return column.astype(object).where(column.notna(), None).tolist()
