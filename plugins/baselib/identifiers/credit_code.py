"""Unified social credit code (GB 32100-2015) and the embedded organisation code (GB 11714-1997).

python-stdnum wrongly rejects valid credit codes that start with a letter (N…, Y…, A…),
so the project carries its own implementation. This module stays light (the catalog model
imports it while DAGs parse); the vectorised column check is in ``credit_code_column``.
"""
from __future__ import annotations

from baselib.identifiers import causes
from baselib.identifiers.causes import Cause

LENGTH = 18
ORG_LENGTH = 9
EXCLUDED = "IOSVZ"  # capital letters GB 32100 does not use
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 symbols: no I, O, Z, S, V
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28

ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def check_character(body17: str) -> str:
    if len(body17) != 17 or any(ch not in _VALUE for ch in body17):
        raise ValueError(f"need 17 symbols of {ALPHABET}, got {body17!r}")
    remainder = sum(_VALUE[ch] * w for ch, w in zip(body17, WEIGHTS)) % 31
    return ALPHABET[(31 - remainder) % 31]


def is_valid(code: str | None) -> bool:
    """True when the 18th character is the right check character over the 31-symbol alphabet."""
    if not isinstance(code, str) or len(code) != 18 or any(ch not in _VALUE for ch in code):
        return False
    return code[17] == check_character(code[:17])


def org_check_character(body8: str) -> str:
    """GB 11714 check character: digits keep their value, letters A=10 … Z=35."""
    if len(body8) != 8 or not all("0" <= ch <= "9" or "A" <= ch <= "Z" for ch in body8):
        raise ValueError(f"need 8 digits or capital letters, got {body8!r}")
    values = [int(ch) if ch.isdigit() else ord(ch) - 55 for ch in body8]
    check = 11 - sum(v * w for v, w in zip(values, ORG_WEIGHTS)) % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def is_valid_org_code(code: str | None) -> bool:
    if not isinstance(code, str) or len(code) != 9:
        return False
    try:
        return code[8] == org_check_character(code[:8])
    except ValueError:
        return False


def diagnose(code: str) -> Cause | None:
    """Why ``code`` is not a valid credit code, or None when it is (agrees with :func:`is_valid`).
    One cause, the first found: a character outside the 31-symbol alphabet (a lower-case letter,
    one of I O S V Z, anything else, named with its position), the length, the check character
    (expected and found)."""
    bad = [i for i, ch in enumerate(code) if ch not in _VALUE]
    if bad:
        ch = code[bad[0]]
        if ch in EXCLUDED:
            return Cause(f"第 {bad[0] + 1} 位「{ch}」不是 GB 32100 使用的字符（不用 I、O、S、V、Z）",
                         f"character {bad[0] + 1}, '{ch}', is not used by GB 32100 (no I, O, S, V or Z)")
        return causes.bad_character(code, bad, "数字或大写字母", "a digit or a capital letter")
    if len(code) != LENGTH:
        return causes.wrong_length(len(code), LENGTH)
    expected = check_character(code[:17])
    return None if code[17] == expected else causes.wrong_check(expected, code[17])


def diagnose_org_code(code: str) -> Cause | None:
    """Why ``code`` is not a valid GB 11714 organisation code, or None when it is (agrees with
    :func:`is_valid_org_code`): a character that is not a digit or capital letter, the length, the
    check character (expected and found)."""
    bad = [i for i, ch in enumerate(code) if not ("0" <= ch <= "9" or "A" <= ch <= "Z")]
    if bad:
        return causes.bad_character(code, bad, "数字或大写字母", "a digit or a capital letter")
    if len(code) != ORG_LENGTH:
        return causes.wrong_length(len(code), ORG_LENGTH)
    expected = org_check_character(code[:8])
    return None if code[8] == expected else causes.wrong_check(expected, code[8])
