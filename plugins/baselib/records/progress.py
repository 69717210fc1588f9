"""Progress of a long step in its task log, at INFO, with a bounded number of lines.

A step counts the parts (Parquet files) and rows it has done with :meth:`Progress.add` and ends
with :meth:`Progress.done`. ``add`` logs a progress line for the first part and then at most one
line every ``BASELIB_PROGRESS_SECONDS`` seconds (default 30; ``0`` logs every part), so a
10-million-row load prints a handful of lines, not one per part or row; ``done`` always logs
one summary line with the totals and the throughput. Lines look like::

    101001/000001: extract: 3 part(s), 300000 rows so far, 104512 rows/s
    101001/000001: extract done: 5 part(s), 500000 rows in 4.8 s (104166 rows/s)
"""
from __future__ import annotations

import logging
import os
import time

DEFAULT_SECONDS = 30.0


def interval_seconds() -> float:
    """Seconds between two progress lines of a step: ``BASELIB_PROGRESS_SECONDS`` (float >= 0,
    default 30). Raises ValueError for a value that is not a non-negative number."""
    raw = os.environ.get("BASELIB_PROGRESS_SECONDS", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_SECONDS
    except ValueError:
        raise ValueError(f"BASELIB_PROGRESS_SECONDS must be a number of seconds >= 0, got {raw!r}") from None
    if not value >= 0:  # negative, or nan
        raise ValueError(f"BASELIB_PROGRESS_SECONDS must be a number of seconds >= 0, got {raw!r}")
    return value


def rate(rows: int, seconds: float) -> float:
    """Rows per second (0.0 for no elapsed time)."""
    return rows / seconds if seconds > 0 else 0.0


class Progress:
    """Counts of one step (``label``, e.g. ``"101001/000001: extract"``) logged to ``logger``.

    ``every``: seconds between progress lines (default :func:`interval_seconds`). ``clock``:
    a monotonic clock in seconds (tests may pass their own)."""

    def __init__(self, logger: logging.Logger, label: str, *, every: float | None = None, clock=time.monotonic):
        self.logger, self.label = logger, label
        self.every = interval_seconds() if every is None else every
        self.clock = clock
        self.started = clock()
        self.last_logged: float | None = None
        self.parts = 0
        self.rows = 0

    @property
    def seconds(self) -> float:
        """Seconds since the step started."""
        return self.clock() - self.started

    def add(self, rows: int, parts: int = 1) -> None:
        """``rows`` more rows in ``parts`` more parts done; log a progress line if it is time."""
        self.parts += parts
        self.rows += int(rows)
        now = self.clock()
        if self.last_logged is None or now - self.last_logged >= self.every:
            self.last_logged = now
            self.logger.info("%s: %d part(s), %d rows so far, %.0f rows/s", self.label, self.parts, self.rows,
                             rate(self.rows, now - self.started))

    def done(self, detail: str = "") -> float:
        """Log the summary line (totals, seconds, rows/s, then ``detail`` if any); returns the
        step's seconds."""
        seconds = self.seconds
        self.logger.info("%s done: %d part(s), %d rows in %.1f s (%.0f rows/s)%s", self.label, self.parts, self.rows,
                         seconds, rate(self.rows, seconds), f"; {detail}" if detail else "")
        return seconds
