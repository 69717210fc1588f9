"""Resolve Airflow connection ids to libpq connection strings, with or without Airflow.

Credentials never live in code. Lookup order for a connection id ``x``:
1. the environment variable ``AIRFLOW_CONN_X`` (a libpq/Airflow URI, or Airflow's JSON form);
2. when running inside Airflow, the connection from Airflow's secrets backends / metadata.
The warehouse is the connection id ``warehouse``; ``WAREHOUSE_URL`` is accepted as a shorthand.
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from urllib.parse import quote

import psycopg2
import psycopg2.extensions

from baselib.security import redaction

WAREHOUSE_CONN_ID = "warehouse"
_AIRFLOW_SCHEMES = {"postgres": "postgresql"}


def _from_json(raw: str) -> str:
    conn = json.loads(raw)
    user = quote(conn.get("login") or "", safe="")
    password = quote(conn.get("password") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = conn.get("host") or ""
    port = f":{conn['port']}" if conn.get("port") else ""
    database = conn.get("schema") or ""
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra) if extra else {}
    query = "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in extra.items())
    return f"postgresql://{auth}{host}{port}/{database}" + (f"?{query}" if query else "")


def _normalise(uri: str) -> str:
    scheme, sep, rest = uri.partition("://")
    return _AIRFLOW_SCHEMES.get(scheme, scheme) + sep + rest


def connection_uri(conn_id: str) -> str:
    """A libpq URI for ``conn_id``. Raises ``LookupError`` with the variable to set."""
    env_name = f"AIRFLOW_CONN_{conn_id.upper()}"
    raw = os.environ.get(env_name)
    if raw is None and conn_id == WAREHOUSE_CONN_ID:
        raw = os.environ.get("WAREHOUSE_URL")
    if raw:
        raw = raw.strip()
        return _from_json(raw) if raw.startswith("{") else _normalise(raw)
    with contextlib.suppress(ImportError):
        from airflow.sdk import Connection  # only inside Airflow; the engine runs without it

        with contextlib.suppress(Exception):
            conn = Connection.get(conn_id)
            return _normalise(conn.get_uri())
    raise LookupError(f"connection {conn_id!r} is not configured: set {env_name} (e.g. postgresql://user@host:5432/db)")


def connect(conn_id: str = WAREHOUSE_CONN_ID, **kwargs) -> psycopg2.extensions.connection:
    """An open connection for ``conn_id``, in UTC with ISO dates.

    Raises ``LookupError`` (not configured) or the ``psycopg2.Error`` of a failed connection, its
    message redacted (libpq quotes a malformed URI's password) and unchained."""
    try:
        conn = psycopg2.connect(connection_uri(conn_id), **kwargs)
    except psycopg2.Error as exc:
        raise redaction.scrub(exc) from None
    with conn.cursor() as cur:  # stable text forms: hashes and CSV round-trips depend on them
        cur.execute("SET TIME ZONE 'UTC'; SET datestyle = 'ISO, YMD'")
    conn.commit()
    return conn


@contextlib.contextmanager
def transaction(conn_id: str = WAREHOUSE_CONN_ID) -> Iterator[psycopg2.extensions.connection]:
    """A connection whose work commits on success and rolls back on any exception.

    The exception raised inside is the one that propagates: when the connection died (the
    server ended the backend, the network dropped), the server has already rolled back, and the
    failed rollback's "connection already closed" must not hide the real cause."""
    conn = connect(conn_id)
    try:
        yield conn
        conn.commit()
    except BaseException:
        with contextlib.suppress(psycopg2.InterfaceError, psycopg2.OperationalError):
            conn.rollback()
        raise
    finally:
        conn.close()
