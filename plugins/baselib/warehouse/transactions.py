"""One unit of work on a warehouse connection: commit on success, roll back on any failure."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def transaction(conn) -> Iterator:
    """A cursor of ``conn`` (psycopg2) whose work commits when the block ends normally and rolls
    back when it raises anything (the exception propagates). Use for a function that "commits its
    own work": the connection is never left inside a failed transaction."""
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
