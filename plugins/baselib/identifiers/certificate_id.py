"""Electronic certificate identifier (GB/T 36904-2018).

Form: ``1.2.156.3005.2.{type code}.{issuer code}.{serial}.{version: 3 digits}.{check}``. The
check character is ISO 7064 MOD 37,36 (hybrid system) over the concatenation of the four middle
parts, alphabet 0-9A-Z. The standard's text was not available; the algorithm is the one real
implementations use and it verifies real identifiers (see tests/unit/test_certificate_id.py).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from baselib.identifiers import causes
from baselib.identifiers.causes import Cause

PREFIX = "1.2.156.3005.2."
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_LOOKUP = np.full(256, -1, dtype=np.int64)
for _ch, _v in _VALUE.items():
    _LOOKUP[ord(_ch)] = _v
# [0-9], not \d (which takes full-width digits); \Z, not $ (which allows a trailing newline)
_SHAPE = re.compile(r"^1\.2\.156\.3005\.2\.([0-9A-Z]+)\.([0-9A-Z]+)\.([0-9A-Z]+)\.([0-9]{3})\.([0-9A-Z])\Z")


def check_character(body: str) -> str:
    """MOD 37,36: start with p = 36; per character t = (p + value) mod 36 (0 becomes 36),
    p = 2t mod 37; the check character is (37 - p) mod 36."""
    if not body or any(ch not in _VALUE for ch in body):
        raise ValueError(f"need characters of 0-9A-Z, got {body!r}")
    p = 36
    for ch in body:
        t = (p + _VALUE[ch]) % 36 or 36
        p = (2 * t) % 37
    return ALPHABET[(37 - p) % 36]


def parts(identifier: str) -> tuple[str, str, str, str, str] | None:
    """(type code, issuer code, serial, version, check) or None when the shape is wrong."""
    match = _SHAPE.match(identifier) if isinstance(identifier, str) else None
    return match.groups() if match else None


def is_valid(identifier: str | None) -> bool:
    found = parts(identifier)
    if found is None:
        return False
    type_code, issuer, serial, version, check = found
    return check == check_character(type_code + issuer + serial + version)


_PARTS = (("证照类型代码", "type code"), ("颁发机构代码", "issuer code"), ("序列号", "serial"),
          ("版本号", "version"), ("校验位", "check character"))


def diagnose(identifier: str) -> Cause | None:
    """Why ``identifier`` is not a valid GB/T 36904 identifier, or None when it is (agrees with
    :func:`is_valid`). One cause, the first found: a character other than 0-9, A-Z and '.', the
    prefix, the number of parts after it, an empty part, a version that is not 3 digits, a check
    part that is not one character, the check character (expected and found)."""
    bad = [i for i, ch in enumerate(identifier) if ch not in _VALUE and ch != "."]
    if bad:
        return causes.bad_character(identifier, bad, "数字、大写字母或“.”", "a digit, a capital letter or '.'")
    if not identifier.startswith(PREFIX):
        return Cause(f"不以 {PREFIX} 开头", f"does not start with {PREFIX}")
    found = identifier[len(PREFIX):].split(".")
    if len(found) != len(_PARTS):
        return Cause(f"前缀后应为 类型代码.颁发机构代码.序列号.版本号.校验位 5 段，实为 {len(found)} 段",
                     f"expected 5 parts after the prefix (type code.issuer code.serial.version.check), "
                     f"found {len(found)}")
    for (zh, en), part in zip(_PARTS, found):
        if not part:
            return Cause(f"{zh}为空", f"the {en} is empty")
    type_code, issuer, serial, version, check = found
    if len(version) != 3 or not version.isdigit():
        return Cause(f"版本号「{version}」应为 3 位数字", f"the version '{version}' must be 3 digits")
    if len(check) != 1:
        return Cause(f"校验位「{check}」应为 1 个字符", f"the check part '{check}' must be one character")
    expected = check_character(type_code + issuer + serial + version)
    return None if check == expected else causes.wrong_check(expected, check)


def valid_mask(values) -> np.ndarray:
    """Vectorised :func:`is_valid`: the shape by regular expression, the MOD 37,36 check
    computed column by column over the padded bodies (one NumPy step per character)."""
    series = pd.Series(values, dtype="string")
    found = series.str.extract(_SHAPE.pattern)
    shaped = found[0].notna().to_numpy()
    body = (found[0] + found[1] + found[2] + found[3]).fillna("")
    check = found[4].fillna("")
    width = int(body.str.len().max()) if len(body) else 0  # an empty column (all NULL, or no rows) has no width
    padded = body.str.pad(width, side="right", fillchar="\x00").to_numpy(dtype=f"S{max(width, 1)}")
    chars = np.frombuffer(padded.tobytes(), dtype=np.uint8).reshape(len(padded), -1) if len(padded) else np.zeros((0, 0), np.uint8)
    value = _LOOKUP[chars]
    p = np.full(len(padded), 36, dtype=np.int64)
    for column in range(chars.shape[1]):
        active = chars[:, column] != 0
        t = (p + np.clip(value[:, column], 0, None)) % 36
        t[t == 0] = 36
        p = np.where(active, (2 * t) % 37, p)
    expected = np.frombuffer(ALPHABET.encode(), dtype="S1")[(37 - p) % 36].astype(str)
    return shaped & (expected == check.to_numpy(dtype=str))
