"""Queries run as a logged-in role in integration tests (masking roles, sharing consumers): the rows
or the column names a query returns, whether it is refused for lack of privilege, and applying the
warehouse DDL for some resources."""
from __future__ import annotations

import psycopg2
import psycopg2.errors

from baselib.warehouse import schema


def rows(conn, query: str, params=None) -> list[tuple]:
    """Every row ``query`` returns on ``conn``."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def columns(conn, query: str) -> list[str]:
    """The column names ``query`` returns on ``conn``."""
    with conn.cursor() as cur:
        cur.execute(query)
        return [d.name for d in cur.description]


def denied(conn, query: str) -> bool:
    """True when ``query`` fails with insufficient_privilege; False when it runs."""
    try:
        rows(conn, query)
    except psycopg2.errors.InsufficientPrivilege:
        return True
    return False


def ensure(dbs, resources) -> None:
    """schema.ensure on a fresh connection to the test warehouse, for ``resources`` (a list)."""
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, list(resources))
    finally:
        conn.close()
