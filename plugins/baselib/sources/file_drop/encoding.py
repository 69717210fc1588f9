"""Decode delivered text: the catalog's declared encoding, or detected among the four that
Chinese government files come in. Chinese text must round-trip exactly, so decoding is strict:
a byte sequence that is not valid in the encoding rejects the file instead of being replaced."""
from __future__ import annotations

import codecs

from baselib.errors import UnreadableFile

# Detection order: a BOM is certain; valid UTF-8 is almost never accidental for GBK text;
# GB18030 is a superset of GBK, so GBK is reported when it suffices.
DETECTED = ("utf-8-sig", "utf-8", "gbk", "gb18030")


def decode(data: bytes, declared: str = "auto") -> tuple[str, str]:
    """``(text, encoding)``. NUL characters decode like any other (a NUL in a field is a row-level
    problem, quarantined with its row). Raises :class:`UnreadableFile`, bilingual, naming the
    byte offset of the problem."""
    if declared != "auto":
        try:
            text = data.decode(declared)
        except UnicodeDecodeError as exc:
            raise UnreadableFile(_describe(exc, declared, data)) from exc
        return text.removeprefix("\ufeff"), declared
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise UnreadableFile(_describe(exc, "utf-8 (it starts with a UTF-8 byte-order mark)", data, 3)) from exc
    errors = []
    for encoding in DETECTED[1:]:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            errors.append(exc)
    zh, _, en = _describe(errors[-1], "gb18030", data).partition(" / ")
    raise UnreadableFile(f"不是有效的 UTF-8、GBK 或 GB18030 文本（编码错误，或文件被截断、是二进制文件）：{zh} / "
                         f"not valid UTF-8, GBK or GB18030 text: {en} "
                         f"(wrong encoding, or the file is truncated or binary)")


def _describe(exc: UnicodeDecodeError, encoding: str, data: bytes, offset: int = 0) -> str:
    """"中文 / English": where the bytes stop decoding."""
    start = exc.start + offset
    snippet = data[max(0, start - 8):start + 8].hex(" ")
    at_end = exc.end + offset >= len(data)
    return (f"无法按 {encoding} 解码：第 {start} 字节{'（在文件末尾，文件疑似被截断）' if at_end else ''}，附近字节 {snippet} / "
            f"cannot decode as {encoding}: {exc.reason} at byte {start}"
            f"{' at the very end (the file looks truncated)' if at_end else ''} (bytes around it: {snippet})")
