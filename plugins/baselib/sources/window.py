"""The slice of source rows one run extracts."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractWindow:
    """Rows with ``lower < incremental_column <= upper``. ``lower`` None means from the beginning
    (a full extract); ``upper`` None means no bound (a resource without an incremental column, or
    a reconcile, which reads the source as it is now)."""

    lower: dt.datetime | None
    upper: dt.datetime | None

    @property
    def is_full(self) -> bool:
        return self.lower is None
