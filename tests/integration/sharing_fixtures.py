"""Fixtures for sharing tests: consumers with names unique to the test (PostgreSQL roles are
cluster-wide, so two tests or two warehouses on one server must not share them), their passwords in
the environment, login connections over TCP as the real consumer roles, and clean-up of the roles.

Use: ``from tests.integration.sharing_fixtures import sharing_consumers  # noqa: F401`` in a test
module, then ``def test_x(dbs, sharing_consumers): consumers = sharing_consumers("tax", "relief")``.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import psycopg2
import pytest
import yaml
from psycopg2 import sql

# valid unified social credit codes of departments (check characters computed)
DEPARTMENT_CODES = ["113600000144006013", "113600000144002750", "113600000144040223", "11360000014405033E",
                    "11360000014400702U"]


@dataclass
class TestConsumers:
    """The consumers a test declared: ``codes`` maps the short name the test gave to the unique
    consumer code; ``passwords`` maps the unique code to its password; ``path`` is the YAML file
    (also in BASELIB_CONSUMERS_FILE)."""

    path: object
    codes: dict[str, str]
    passwords: dict[str, str]
    uri: str

    def code(self, short: str) -> str:
        return self.codes[short]

    def role(self, short: str) -> str:
        return f"consumer_{self.codes[short]}"

    def login(self, short: str, password: str | None = None):
        """An autocommit connection to the test warehouse as the consumer's LOGIN role, over the
        same host as the test server (TCP when TEST_DATABASE_URL is TCP)."""
        code = self.codes[short]
        conn = psycopg2.connect(self.uri, user=f"consumer_{code}", password=password or self.passwords[code])
        conn.autocommit = True
        assert conn.info.user == f"consumer_{code}"
        return conn


@pytest.fixture
def sharing_consumers(dbs, tmp_path, monkeypatch):
    """``declare(*short_names)`` writes a consumers file with one consumer per short name (codes
    ``t<random>_<short>``), sets BASELIB_CONSUMERS_FILE and each BASELIB_CONSUMER_<CODE>_PASSWORD,
    and returns a TestConsumers. The roles the test's code created are dropped afterwards."""
    declared: list[str] = []

    def declare(*short_names: str) -> TestConsumers:
        tag = secrets.token_hex(3)
        codes = {short: f"t{tag}_{short}" for short in short_names}
        passwords = {}
        entries = []
        for i, (short, code) in enumerate(codes.items()):
            entries.append({"code": code, "name": f"测试系统{short}",
                            "department": {"name": f"测试部门{i}", "code": DEPARTMENT_CODES[i % len(DEPARTMENT_CODES)]}})
            passwords[code] = secrets.token_urlsafe(18)
            monkeypatch.setenv(f"BASELIB_CONSUMER_{code.upper()}_PASSWORD", passwords[code])
        path = tmp_path / f"consumers_{tag}.yaml"
        path.write_text(yaml.safe_dump({"consumers": entries}, allow_unicode=True), encoding="utf-8")
        monkeypatch.setenv("BASELIB_CONSUMERS_FILE", str(path))
        declared.extend(codes.values())
        return TestConsumers(path, codes, passwords, dbs.warehouse_uri)

    yield declare
    conn = dbs.warehouse()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            # end the test's own sessions as the roles, then their privileges here, then the roles
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY(%s)",
                        ([f"consumer_{c}" for c in declared],))
            for code in declared:
                role = sql.Identifier(f"consumer_{code}")
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (f"consumer_{code}",))
                if cur.fetchone():
                    cur.execute(sql.SQL("DROP OWNED BY {}").format(role))
                    cur.execute(sql.SQL("DROP ROLE {}").format(role))
    finally:
        conn.close()


def register_consumers(conn, *codes: str, department_code: str = "113600000144040223") -> None:
    """Rows of ``sharing.consumer`` for ``codes`` (active, role ``consumer_<code>``, schema
    ``share_<code>``), without creating their roles: for tests of applications and objections, which
    need a declared consumer but no login. Commits."""
    with conn.cursor() as cur:
        for code in codes:
            cur.execute("INSERT INTO sharing.consumer (consumer_code, consumer_name, department_name, department_code, "
                        "role_name, share_schema) VALUES (%s, %s, %s, %s, %s, %s)",
                        (code, f"{code} 系统", f"{code} 部门", department_code, f"consumer_{code}", f"share_{code}"))
    conn.commit()
