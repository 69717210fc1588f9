"""Shared fixtures: a real PostgreSQL server, fresh warehouse and source databases per test.

The server is TEST_DATABASE_URL (or WAREHOUSE_URL) when set, else the embedded PostgreSQL.
Staging files and quality reports go to a temporary directory, never into the checkout.
"""
from __future__ import annotations

import datetime as dt
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

_SCRATCH = Path(tempfile.mkdtemp(prefix="baselib-tests-"))
# baselib.settings reads these at import time: set them before any test imports baselib.
os.environ.setdefault("BASELIB_REPORTS_DIR", str(_SCRATCH / "reports"))
os.environ.setdefault("BASELIB_STAGING_URL", (_SCRATCH / "staging").as_uri())

UTC = dt.timezone.utc
# Real-world inputs modelled on public bug reports (tests/fixtures/real_world/README.md).
REAL_WORLD = Path(__file__).resolve().parent / "fixtures" / "real_world"
AS_OF = dt.datetime(2026, 11, 1, tzinfo=UTC)          # the simulator's newest updated_at
DAY1 = (dt.datetime(2026, 10, 31, 16, tzinfo=UTC), dt.datetime(2026, 11, 1, 16, tzinfo=UTC))
DAY2 = (dt.datetime(2026, 11, 1, 16, tzinfo=UTC), dt.datetime(2026, 11, 2, 16, tzinfo=UTC))
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> str:
    uri = os.environ.get("TEST_DATABASE_URL") or os.environ.get("WAREHOUSE_URL")
    if uri:
        return uri
    from baselib.warehouse import embedded

    return embedded.start()


# Department front-end databases the tests create, one per Airflow connection id.
SOURCE_CONN_IDS = ("dept_public_security", "dept_market_regulation", "dept_human_resources")


class Databases:
    """A fresh warehouse and fresh department sources, wired up as Airflow connections."""

    def __init__(self, server: str, tag: str):
        from baselib.warehouse import provision

        self.server = server
        self.names = {"warehouse": f"baselib_test_wh_{tag}"}
        self.names.update({conn_id: f"baselib_test_{conn_id.removeprefix('dept_')}_{tag}" for conn_id in SOURCE_CONN_IDS})
        self.uris = {}
        for role, name in self.names.items():
            provision.drop_database(server, name)
            self.uris[role] = provision.ensure_database(server, name)
        self.warehouse_uri = self.uris["warehouse"]

    def connect(self, db: str = "warehouse"):
        """``db``: "warehouse", "source" (the public security source) or a connection id."""
        from baselib.warehouse import connections

        return connections.connect("dept_public_security" if db == "source" else db)

    def warehouse(self):
        return self.connect("warehouse")

    def source(self, conn_id: str = "dept_public_security"):
        return self.connect(conn_id)

    def query(self, sql: str, params=None, db: str = "warehouse") -> list[tuple]:
        conn = self.connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.commit()
            conn.close()

    def scalar(self, sql: str, params=None, db: str = "warehouse"):
        return self.query(sql, params, db)[0][0]

    def drop(self) -> None:
        from baselib.warehouse import provision

        for name in self.names.values():
            provision.drop_database(self.server, name)


@pytest.fixture
def dbs(pg_server, monkeypatch) -> Databases:
    databases = Databases(pg_server, f"{os.getpid()}_{next(_counter)}")
    for role, uri in databases.uris.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{role.upper()}", uri)
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    yield databases
    databases.drop()


@pytest.fixture
def landing(tmp_path, monkeypatch) -> Path:
    """A fresh file-drop landing root (``BASELIB_LANDING_URL``) for one test."""
    root = tmp_path / "landing"
    root.mkdir()
    monkeypatch.setenv("BASELIB_LANDING_URL", root.as_uri())
    return root


@pytest.fixture(scope="session")
def population():
    from baselib.catalog import load_catalog

    return next(r for r in load_catalog() if r.pipeline.target.qualified == "base_population.person")


# An S3-compatible object store (moto's server, in its own process on loopback) for file drops and staging.
BUCKET = "baselib-exchange"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3(monkeypatch, tmp_path):
    """A real S3-compatible server on loopback with the bucket ``BUCKET``; the AWS_* variables
    point at it. Yields a pyarrow S3FileSystem on it."""
    import pyarrow.fs as pafs

    port = _free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "moto.log", "wb"))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the S3 server did not start: {(tmp_path / 'moto.log').read_text()[-2000:]}")
        for name, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test-key",
                            "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(name, value)
        fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                               access_key="test-key", secret_key="test-secret", allow_bucket_creation=True)
        fs.create_dir(BUCKET)
        yield fs
    finally:
        server.terminate()
        server.wait(10)
