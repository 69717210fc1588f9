"""Why an identifier is invalid, in words a quality officer can send back to the provider.

Each identifier module has a ``diagnose(value) -> Cause | None`` that names the FIRST real
problem, in the order: characters, length, structure, embedded parts, check character. The
validation executor turns a cause into a reason ``"<label>(<item>) <zh> / <en>"``.
"""
from __future__ import annotations

import unicodedata
from typing import NamedTuple


class Cause(NamedTuple):
    """One cause, in Chinese and English (no item name: the caller prefixes it)."""

    zh: str
    en: str


def _describe(ch: str) -> tuple[str, str]:
    """(Chinese, English) description of one character: the character itself and its code point,
    so a space, a full-width digit or an invisible character cannot be mistaken for another."""
    code = f"U+{ord(ch):04X}"
    name = unicodedata.name(ch, "")
    en = f"'{ch}' ({code} {name})" if name else f"{code}, a control or unassigned character"
    if ch.isspace():
        return f"空白字符({code})", en
    if unicodedata.category(ch) in ("Cf", "Cc", "Co", "Cn"):
        return f"不可见字符({code})", en
    if unicodedata.normalize("NFKC", ch) != ch:
        return f"全角或兼容字符「{ch}」({code})", en
    if ch.isascii() and ch.islower():
        return f"小写字母「{ch}」", en
    return f"「{ch}」({code})", en


def bad_character(value: str, positions: list[int], expected_zh: str, expected_en: str) -> Cause:
    """The first character at ``positions`` (0-based) that is not allowed, and how many there are.

    >>> bad_character("3601 2", [4], "数字", "a digit").en
    "character 5 is ' ' (U+0020 SPACE), not a digit"
    """
    first = positions[0]
    zh, en = _describe(value[first])
    more_zh = f"；共 {len(positions)} 处这样的字符" if len(positions) > 1 else ""
    more_en = f"; {len(positions)} characters are not allowed" if len(positions) > 1 else ""
    return Cause(f"第 {first + 1} 位为{zh}，应为{expected_zh}{more_zh}",
                 f"character {first + 1} is {en}, not {expected_en}{more_en}")


def wrong_length(found: int, expected: int | str) -> Cause:
    return Cause(f"长度为 {found} 位，应为 {expected} 位", f"{found} characters long, expected {expected}")


def wrong_check(expected: str, found: str) -> Cause:
    return Cause(f"校验码错误：应为 {expected}，实为 {found}",
                 f"check character is wrong: should be {expected}, found {found}")


def within(part_zh: str, part_en: str, cause: Cause) -> Cause:
    """A cause found in a part of the value (e.g. the embedded organisation code)."""
    return Cause(f"{part_zh}{cause.zh}", f"{part_en}: {cause.en}")
