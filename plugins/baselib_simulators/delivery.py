"""Simulated deliveries in a local landing folder, dated as the department left them.

A file drop skips a file modified less than ``min_file_age_seconds`` ago (it may still be being
written), so a simulator or a test that writes a file and runs the pipeline at once dates the
file back to when it was delivered.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

# the simulators' delivery day: the start of the demo's data interval, 2026-11-01 in Asia/Shanghai
DELIVERED_AT = dt.datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
SETTLED = dt.timedelta(hours=1)   # a delivery is never dated later than this before now


def deliver(path: Path, data: bytes | str, *, encoding: str = "utf-8", at: dt.datetime | None = None) -> Path:
    """Write ``data`` (text is encoded with ``encoding``) to ``path`` and :func:`date_back` it.
    Returns ``path``."""
    path = Path(path)
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return date_back(path, at)


def date_back(path: Path, at: dt.datetime | None = None) -> Path:
    """Set the file's modification time to ``at`` (aware; default :data:`DELIVERED_AT`), but no
    later than an hour before now, so the landing folder sees a finished file. Returns ``path``."""
    when = min(at or DELIVERED_AT, dt.datetime.now(dt.timezone.utc) - SETTLED).timestamp()
    os.utime(path, (when, when))
    return Path(path)
