"""Citizen identity number (GB 11643-1999): ISO 7064 MOD 11-2 check character.

python-stdnum raises ``KeyError`` on some valid numbers (e.g. ``34052419800101001X``),
so the project carries its own implementation: scalar functions for single values and
Arrow/NumPy vectorised ones for whole columns.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from baselib.identifiers import causes
from baselib.identifiers.byte_matrix import fixed_width_matrix
from baselib.identifiers.causes import Cause

LENGTH = 18
OLD_LENGTH = 15  # GB 11643-1989: county (6), YYMMDD, sequence (3), no check character
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_WEIGHTS_NP = np.array(WEIGHTS, dtype=np.int64)
_CHECK_NP = np.frombuffer(CHECK_CHARS.encode("ascii"), dtype=np.uint8)


def check_character(body17: str) -> str:
    """The check character for the first 17 digits."""
    if len(body17) != 17 or not (body17.isascii() and body17.isdigit()):
        raise ValueError(f"need 17 digits, got {body17!r}")
    return CHECK_CHARS[sum(int(c) * w for c, w in zip(body17, WEIGHTS)) % 11]


def birth_date(number: str) -> dt.date | None:
    """The birth date encoded in characters 7-14, or None when it is not a calendar date."""
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except (ValueError, TypeError):
        return None


def is_valid(number: str | None) -> bool:
    """True when ``number`` has 17 digits, the right check character and a real birth date."""
    if not isinstance(number, str) or len(number) != LENGTH or not (number.isascii() and number[:17].isdigit()):
        return False
    return number[17] == check_character(number[:17]) and birth_date(number) is not None


def from_old_format(number15: str) -> str:
    """The 18-character form GB 11643-1999 gives a 15-digit number: "19" inserted before the
    YYMMDD birth date, then the check character. Raises ValueError unless 15 ASCII digits."""
    if len(number15) != OLD_LENGTH or not (number15.isascii() and number15.isdigit()):
        raise ValueError(f"need 15 digits, got {number15!r}")
    body = number15[:6] + "19" + number15[6:]
    return body + check_character(body)


def diagnose(number: str) -> Cause | None:
    """Why ``number`` is not a valid 18-character ID, or None when it is (agrees with
    :func:`is_valid`). One cause, the first found: a character that is not a digit (X only as
    the 18th), the length (a 15-digit number is named as the old format, with its 18-digit form
    as a hint; it is not converted), a birth-date part that is not a calendar date, the check
    character (expected and found)."""
    bad = [i for i, ch in enumerate(number) if not ("0" <= ch <= "9" or (ch == "X" and i == LENGTH - 1))]
    if bad:
        return causes.bad_character(number, bad, "数字（第 18 位可为大写 X）", "a digit (or an upper-case X as the 18th)")
    if len(number) == OLD_LENGTH:
        converted = from_old_format(number)
        hint_zh, hint_en = (("", "") if birth_date(converted) is None else
                            (f"，按 GB 11643-1999 换算应为 {converted}", f"; its 18-digit form would be {converted}"))
        return Cause(f"为15位旧版号码（GB 11643-1989）{hint_zh}", f"15-digit old-format number (GB 11643-1989){hint_en}")
    if len(number) != LENGTH:
        return causes.wrong_length(len(number), LENGTH)
    if birth_date(number) is None:
        return Cause(f"出生日期码 {number[6:14]} 不是有效日期", f"birth-date part {number[6:14]} is not a calendar date")
    expected = check_character(number[:17])
    return None if number[17] == expected else causes.wrong_check(expected, number[17])


def sex_code(number: str) -> str:
    """GB/T 2261.1 sex code implied by the sequence number: odd is male (1), even is female (2)."""
    return "1" if int(number[16]) % 2 else "2"


# days in each month of a common year (index 1-12); February gains a day in a leap year
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int16)


class IdColumn:
    """A column of candidate IDs decoded once into an (N x 18) byte matrix.

    Rows that are not 18 ASCII characters are marked malformed and zero-filled, so
    every derived array has one entry per input row. The digits are kept transposed (one
    contiguous row of N bytes per character position) and the arithmetic in small integer types,
    so a million IDs take a few hundredths of a second per check.
    """

    def __init__(self, values):
        self.matrix, self.shaped = fixed_width_matrix(values, LENGTH)
        # (17, N) uint8: a non-digit wraps to >= 10
        self._digits = np.ascontiguousarray(self.matrix[:, :17].T) - np.uint8(48)
        self.body_is_digits = (self._digits <= 9).all(axis=0)
        last = self.matrix[:, 17]
        # 17 digits and a digit or X: the structure whose parts (birth date, sex) can be read
        self.structured = self.shaped & self.body_is_digits & (((last >= 48) & (last <= 57)) | (last == ord("X")))

    def _digit(self, i: int) -> np.ndarray:
        return np.minimum(self._digits[i], 9).astype(np.int16)

    def check_ok(self) -> np.ndarray:
        weighted = np.zeros(len(self.matrix), dtype=np.uint16)  # at most 9 x 100
        for i, weight in enumerate(WEIGHTS):
            weighted += np.minimum(self._digits[i], 9) * np.uint16(weight)
        expected = _CHECK_NP[weighted % 11]
        return self.shaped & self.body_is_digits & (expected == self.matrix[:, 17])

    def _year_month_day(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = self._digit
        year = d(6) * 1000 + d(7) * 100 + d(8) * 10 + d(9)
        return year, d(10) * 10 + d(11), d(12) * 10 + d(13)

    def real_dates(self) -> np.ndarray:
        """bool per row: 17 digits plus a digit or X, and characters 7-14 a calendar date
        (proleptic Gregorian, year 0001-9999), i.e. ``~np.isnat(self.birth_dates())``."""
        year, month, day = self._year_month_day()
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        in_range = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1)
        last_day = _MONTH_DAYS[np.clip(month, 0, 12)] + (leap & (month == 2))
        return self.structured & in_range & (day <= last_day)

    def birth_dates(self) -> np.ndarray:
        """datetime64[D] per row; NaT where not 17 digits plus a digit or X, or not a calendar date."""
        year, month, day = self._year_month_day()
        real = self.real_dates()
        months = ((year.astype(np.int64) - 1970) * 12 + np.clip(month, 1, 12) - 1).astype("datetime64[M]")
        dates = months.astype("datetime64[D]") + (np.clip(day, 1, 31) - 1)
        return np.where(real, dates, np.datetime64("NaT"))

    def sequence_is_odd(self) -> np.ndarray:
        """bool per row: the sequence number (character 17) is odd, i.e. the sex code is '1'
        (meaningful where :attr:`structured`)."""
        return self._digits[16] % 2 == 1

    def sex_codes(self) -> np.ndarray:
        """'1' (odd sequence) / '2' (even) per row; '' where not 17 digits plus a digit or X."""
        out = np.where(self._digits[16] % 2 == 1, "1", "2").astype(object)
        out[~self.structured] = ""
        return out

    def division_codes(self) -> np.ndarray:
        """The 6-digit county code each ID starts with (bytes decoded to str)."""
        return self.matrix[:, :6].copy().view("S6").ravel().astype(str)

    def valid(self) -> np.ndarray:
        """Vectorised :func:`is_valid`."""
        return self.check_ok() & self.real_dates()
