"""Unified social credit codes, a whole column at a time: check character (GB 32100-2015) and
the embedded organisation code (GB 11714-1997), over an (N x 18) byte matrix.

Scalar checks live in :mod:`baselib.identifiers.credit_code`, which stays free of NumPy so the
catalog model can use it while DAGs parse.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from baselib.identifiers import credit_code
from baselib.identifiers.byte_matrix import fixed_width_matrix

LENGTH = 18

# byte -> symbol value over the 31-symbol alphabet (-1: not a symbol); int8 keeps the N x 18 lookup small
_CREDIT_VALUE = np.full(256, -1, dtype=np.int8)
for _i, _ch in enumerate(credit_code.ALPHABET):
    _CREDIT_VALUE[ord(_ch)] = _i
_CREDIT_ALPHABET = np.frombuffer(credit_code.ALPHABET.encode("ascii"), dtype=np.uint8)
_CREDIT_WEIGHTS = np.array(credit_code.WEIGHTS, dtype=np.int64)
# byte -> GB 11714 value: digits 0-9, letters A=10 … Z=35 (-1: neither)
_ORG_VALUE = np.full(256, -1, dtype=np.int8)
for _b in range(48, 58):
    _ORG_VALUE[_b] = _b - 48
for _b in range(65, 91):
    _ORG_VALUE[_b] = _b - 55
_ORG_WEIGHTS = np.array(credit_code.ORG_WEIGHTS, dtype=np.int64)
_ORG_CHECK = np.frombuffer(b"0123456789X0", dtype=np.uint8)  # index 11 - (sum mod 11): 10 -> X, 11 -> 0


def org_codes_ok(matrix: np.ndarray) -> np.ndarray:
    """GB 11714 check per row of an (N x 9) byte matrix: 8 digits or capital letters and the
    right 9th character."""
    body = _ORG_VALUE[np.ascontiguousarray(matrix[:, :8].T)]  # (8, N): one contiguous row per position
    weighted = np.zeros(len(matrix), dtype=np.int32)
    for i, weight in enumerate(credit_code.ORG_WEIGHTS):
        weighted += np.clip(body[i], 0, 35).astype(np.int32) * weight
    expected = _ORG_CHECK[11 - weighted % 11]
    return (body >= 0).all(axis=0) & (expected == matrix[:, 8])


class CreditCodeColumn:
    """A column of candidate credit codes decoded once into an (N x 18) byte matrix.

    Values that are not 18 ASCII characters are marked malformed (``shaped`` false) and zero-filled.
    ``well_formed``: 18 symbols of the 31-symbol alphabet, the structure whose embedded parts
    (division, organisation code, authority and category) can be read. The checks of those parts
    pass a code that is not well formed: :meth:`check_ok` alone rejects it, with one cause.
    """

    def __init__(self, values):
        self.matrix, self.shaped = fixed_width_matrix(values, LENGTH)
        self._values = _CREDIT_VALUE[np.ascontiguousarray(self.matrix.T)]  # (18, N) int8, -1: not a symbol
        self.well_formed = self.shaped & (self._values >= 0).all(axis=0)

    @classmethod
    def of(cls, column: pd.Series) -> CreditCodeColumn:
        return cls(column.astype(object).where(column.notna(), None).tolist())

    def check_ok(self) -> np.ndarray:
        """18 symbols of the 31-symbol alphabet and the right 18th character."""
        weighted = np.zeros(len(self.matrix), dtype=np.int32)
        for i, weight in enumerate(credit_code.WEIGHTS):
            weighted += np.clip(self._values[i], 0, 30).astype(np.int32) * weight
        expected = _CREDIT_ALPHABET[(31 - weighted % 31) % 31]
        return self.well_formed & (expected == self.matrix[:, 17])

    def org_code_ok(self) -> np.ndarray:
        """Characters 9-17 are a GB 11714 organisation code with the right check character (true
        for a code that is not well formed)."""
        return ~self.well_formed | org_codes_ok(self.matrix[:, 8:17])

    def division_codes(self) -> np.ndarray:
        return self.matrix[:, 2:8].copy().view("S6").ravel().astype(str)

    def authority_category(self) -> np.ndarray:
        return self.matrix[:, :2].copy().view("S2").ravel().astype(str)

    def division_code_in(self, codes) -> np.ndarray:
        """bool per row: characters 3-8 are one of ``codes`` (strings; vectorised, without
        building a Python string per row). Same as ``isin(codes)`` over :meth:`division_codes`."""
        return _packed_in(self.matrix[:, 2:8], codes)

    def authority_category_in(self, pairs) -> np.ndarray:
        """bool per row: characters 1-2 are one of ``pairs``; same as ``isin`` over
        :meth:`authority_category`."""
        return _packed_in(self.matrix[:, :2], pairs)


def _packed_in(columns: np.ndarray, values) -> np.ndarray:
    """Rows of an (N x w) byte matrix (w <= 8, no NUL bytes in a row that can match) whose bytes
    spell one of ``values``, compared as w bytes packed into one uint64."""
    width = columns.shape[1]
    wanted = [v.encode("ascii") for v in values
              if isinstance(v, str) and len(v) == width and v.isascii() and "\x00" not in v]
    if not wanted or not len(columns):
        return np.zeros(len(columns), dtype=bool)
    packed = np.zeros((len(columns), 8), dtype=np.uint8)
    packed[:, :width] = columns
    table = np.zeros((len(wanted), 8), dtype=np.uint8)
    table[:, :width] = np.frombuffer(b"".join(wanted), dtype=np.uint8).reshape(-1, width)
    return np.isin(packed.view(np.uint64).ravel(), table.view(np.uint64).ravel())
