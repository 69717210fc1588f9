"""The embedded PostgreSQL (PyPI package ``pgserver``) for machines without a server.

Used only when neither ``WAREHOUSE_URL`` nor ``TEST_DATABASE_URL`` is set. Its data lives in
``.pgdata/`` (git-ignored); the server keeps running after the command so that psql can connect.
"""
from __future__ import annotations

import logging
from pathlib import Path

from baselib.settings import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / ".pgdata"


def start(data_dir: Path = DATA_DIR) -> str:
    """Start (or reuse) the embedded server and return a libpq URI to its ``postgres`` database."""
    import pgserver  # heavy-ish and only needed on machines without a server

    # pgserver logs from an atexit hook, after test runners have closed their streams
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    return server.get_uri()


def stop(data_dir: Path = DATA_DIR) -> bool:
    """Stop the embedded server if one is running in ``data_dir``. Returns whether one was stopped.

    pgserver runs the cluster as its own system user when started by root, so it stops it too
    (a plain ``pg_ctl stop`` as root is refused)."""
    if not (data_dir / "postmaster.pid").exists():
        return False
    import pgserver

    pgserver.get_server(data_dir, cleanup_mode="stop").cleanup()
    return True
