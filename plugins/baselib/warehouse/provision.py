"""Create the databases the demo and the tests need on a PostgreSQL server."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql


def with_database(uri: str, database: str) -> str:
    """The same server URI pointed at another database (query string such as ?host=/socket kept)."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def ensure_database(server_uri: str, database: str) -> str:
    """Create ``database`` on the server if missing; return a URI to it."""
    conn = psycopg2.connect(with_database(server_uri, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(database)))
    finally:
        conn.close()
    return with_database(server_uri, database)


def drop_database(server_uri: str, database: str) -> None:
    conn = psycopg2.connect(with_database(server_uri, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    finally:
        conn.close()
