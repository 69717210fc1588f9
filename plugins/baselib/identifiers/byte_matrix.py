"""Decode a column of fixed-length identifiers into an (N x length) byte matrix, once, so the
check algorithms can run as NumPy array arithmetic instead of a Python loop per value."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def fixed_width_matrix(values, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 matrix, mask of values that are exactly ``length`` ASCII characters).

    ``values`` is any sequence or Arrow array of strings; None and wrongly shaped values are
    zero-filled ('0' characters) and marked False in the mask, so every row stays in place.
    """
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.string())
    shaped = pc.fill_null(pc.and_(pc.equal(pc.binary_length(arr), length), pc.string_is_ascii(arr)), False)
    filled = pc.if_else(shaped, arr, "0" * length).cast(pa.binary()).cast(pa.binary(length))
    raw = np.frombuffer(filled.buffers()[1], dtype=np.uint8)
    start = filled.offset * length
    matrix = raw[start : start + len(filled) * length].reshape(-1, length)
    return matrix, shaped.to_numpy(zero_copy_only=False)
