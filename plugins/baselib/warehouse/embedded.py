"""The embedded PostgreSQL (PyPI package ``pgserver``) for machines without a server.

Used only when neither ``WAREHOUSE_URL`` nor ``TEST_DATABASE_URL`` is set. Its data lives in
``.pgdata/`` (git-ignored); the server keeps running after the command so that psql can connect.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from baselib.settings import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / ".pgdata"


def start(data_dir: Path = DATA_DIR) -> str:
    """Start (or reuse) the embedded server and return a libpq URI to its ``postgres`` database."""
    import pgserver  # heavy-ish and only needed on machines without a server

    server = pgserver.get_server(data_dir, cleanup_mode=None)
    return server.get_uri()


def stop(data_dir: Path = DATA_DIR) -> bool:
    """Stop the embedded server if one is running in ``data_dir``. Returns whether one was stopped."""
    if not (data_dir / "postmaster.pid").exists():
        return False
    import pgserver

    pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    subprocess.run([str(pg_ctl), "-D", str(data_dir), "-m", "fast", "stop"], check=True, capture_output=True)
    return True
