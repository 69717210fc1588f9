"""GB/T 2260 administrative division codes, current and historical.

An ID keeps its county code after the code is abolished, so "known" means the code
appears anywhere in the 1981-2024 history, not only in the current list.
"""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from baselib.identifiers import causes
from baselib.identifiers.causes import Cause
from baselib.settings import REFERENCE_DIR

DIVISIONS_CSV = REFERENCE_DIR / "division_codes_gbt2260.csv"


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    province: str
    level: str  # 省级 / 地级 / 县级
    in_use: bool
    first_year: int
    last_year: int | None  # year changed or abolished (exclusive), None when in use


class DivisionCodes:
    """Lookup over the reference file. One instance per process (see :func:`load`)."""

    def __init__(self, rows: list[Division]):
        self.by_code: dict[str, list[Division]] = {}
        for row in rows:
            self.by_code.setdefault(row.code, []).append(row)
        self.all_codes = frozenset(self.by_code)
        self.current_codes = frozenset(c for c, rs in self.by_code.items() if any(r.in_use for r in rs))

    def is_known(self, code: str | None, include_abolished: bool = True) -> bool:
        return code in (self.all_codes if include_abolished else self.current_codes)

    def diagnose(self, code: str, include_abolished: bool = True) -> Cause | None:
        """A cause more specific than "unknown code": not 6 ASCII digits (the character or the
        length), or abolished when only codes in use count. None for a well-formed code, known
        or not (an unknown code's reason is the check's own, which names the code's role)."""
        bad = [i for i, ch in enumerate(code) if not "0" <= ch <= "9"]
        if bad:
            return causes.bad_character(code, bad, "数字", "a digit")
        if len(code) != 6:
            return causes.wrong_length(len(code), 6)
        if not include_abolished and code in self.all_codes and code not in self.current_codes:
            last = max(r.last_year or 0 for r in self.by_code[code])
            return Cause(f"{code} 已于 {last} 年撤销或变更，不是在用代码",
                         f"{code} was abolished or changed in {last}; it is not in use")
        return None

    def counties(self, in_use_only: bool = True) -> list[Division]:
        """County-level divisions, sorted by code (used by the simulators)."""
        out = [r for rs in self.by_code.values() for r in rs if r.level == "县级" and (r.in_use or not in_use_only)]
        return sorted(out, key=lambda r: (r.code, r.first_year))

    def name(self, code: str) -> str | None:
        rows = self.by_code.get(code)
        if not rows:
            return None
        return max(rows, key=lambda r: (r.in_use, r.first_year)).name


def _parse(path: Path) -> list[Division]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        return [
            Division(
                code=row["代码"],
                name=row["名称"],
                province=row["一级行政区"],
                level=row["级别"],
                in_use=row["状态"] == "在用",
                first_year=int(row["启用时间"]),
                last_year=int(row["变更/弃用时间"]) if row["变更/弃用时间"] else None,
            )
            for row in reader
        ]


@functools.lru_cache(maxsize=None)
def load(path: Path = DIVISIONS_CSV) -> DivisionCodes:
    return DivisionCodes(_parse(path))
