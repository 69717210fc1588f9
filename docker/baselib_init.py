"""The project's part of the compose file's ``airflow-init`` service (called by airflow-init.sh).

Sub-commands (every value comes from the environment; nothing secret is printed):

* ``placeholders`` — exit status 1 naming every variable whose value is still ``.env.example``'s
  placeholder ``change-me`` (the secrets must be replaced before the first start).
* ``passwords FILE`` — write SimpleAuthManager's passwords file (JSON ``{user: password}``):
  ``AIRFLOW_ADMIN_USER`` (default ``admin``) gets ``AIRFLOW_ADMIN_PASSWORD``; other users already
  in the file keep theirs. The file is created with mode 0600.
* ``warehouse`` — check that the warehouse answers (``WAREHOUSE_HOST``/``WAREHOUSE_PORT``/
  ``WAREHOUSE_USER``/``WAREHOUSE_PASSWORD``/``WAREHOUSE_DB``; up to ``--attempts`` tries, 2 s
  apart) and create the extensions the engine uses when the server has them: ``postgis``
  (geometry columns) and ``pg_stat_statements`` (the sharing usage measures). Exit status 1 with
  a redacted message when it does not answer.
* ``connections FILE`` — write the Airflow connections as a JSON file for
  ``airflow connections import --overwrite FILE`` (mode 0600; the caller deletes it):
  ``warehouse`` (from the WAREHOUSE_* variables), each source connection of the catalog
  (``pipeline.source.conn_id`` of the postgres and http_api sources) from ``BASELIB_CONN_<ID>``
  (an Airflow connection URI or JSON), ``evaluation_api`` (``EVALUATION_API_URL`` +
  ``EVALUATION_API_TOKEN``), ``baselib_alerts`` (``BASELIB_ALERT_WEBHOOK_URL``) and
  ``smtp_default`` (``SMTP_HOST`` …) when set. Prints the ids written and those skipped, and why.

Runs with the image's Python (Airflow not imported; the catalog is read with ``baselib`` from
``PYTHONPATH``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

SOURCE_KINDS = ("postgres", "http_api")
PLACEHOLDER = "change-me"


def _env(environ, name: str, default: str = "") -> str:
    return (environ.get(name) or default).strip()


def source_conn_ids() -> list[str]:
    """The catalog's source connection ids (postgres and http_api sources), sorted."""
    from baselib.catalog import load_catalog

    return sorted({r.pipeline.source.conn_id for r in load_catalog() if r.pipeline.source.kind in SOURCE_KINDS})


def conn_variable(conn_id: str) -> str:
    """The environment variable airflow-init reads a source connection from."""
    return f"BASELIB_CONN_{conn_id.upper()}"


def build_connections(environ=os.environ, sources: list[str] | None = None) -> tuple[dict, list[str]]:
    """``({conn_id: URI str | Airflow connection dict}, [notes on skipped connections])``."""
    conns: dict[str, object] = {}
    notes: list[str] = []
    conns["warehouse"] = {
        "conn_type": "postgres",
        "host": _env(environ, "WAREHOUSE_HOST", "warehouse"),
        "port": int(_env(environ, "WAREHOUSE_PORT", "5432")),
        "login": _env(environ, "WAREHOUSE_USER", "baselib"),
        "password": environ.get("WAREHOUSE_PASSWORD") or None,
        "schema": _env(environ, "WAREHOUSE_DB", "baselib"),
    }
    for conn_id in source_conn_ids() if sources is None else sources:
        raw = _env(environ, conn_variable(conn_id))
        if not raw:
            notes.append(f"{conn_id}: {conn_variable(conn_id)} is not set; its DAGs fail until it is "
                         "(set it in .env and rerun airflow-init)")
            continue
        conns[conn_id] = json.loads(raw) if raw.startswith("{") else raw
    if url := _env(environ, "EVALUATION_API_URL"):
        conns["evaluation_api"] = {"conn_type": "http", "host": url,
                                   "password": environ.get("EVALUATION_API_TOKEN") or None}
    else:
        notes.append("evaluation_api: EVALUATION_API_URL is not set; evaluation_publish fails until it is")
    if url := _env(environ, "BASELIB_ALERT_WEBHOOK_URL"):
        conns["baselib_alerts"] = {"conn_type": "http", "host": url}
    else:
        notes.append("baselib_alerts: BASELIB_ALERT_WEBHOOK_URL is not set; webhook alerts are not sent")
    if host := _env(environ, "SMTP_HOST"):
        conns["smtp_default"] = {
            "conn_type": "smtp", "host": host, "port": int(_env(environ, "SMTP_PORT", "587")),
            "login": _env(environ, "SMTP_USER") or None, "password": environ.get("SMTP_PASSWORD") or None,
            # SMTP provider extras: SSL from the start (port 465) or STARTTLS (port 587); the sender
            "extra": json.dumps({
                "disable_ssl": _env(environ, "SMTP_SSL", "false").lower() != "true",
                "disable_tls": _env(environ, "SMTP_STARTTLS", "true").lower() != "true",
                **({"from_email": sender} if (sender := _env(environ, "SMTP_FROM")) else {}),
            }),
        }
    else:
        notes.append("smtp_default: SMTP_HOST is not set; email alerts are not sent")
    return conns, notes


def placeholders(environ=os.environ) -> list[str]:
    """The names of the variables whose value is still the placeholder ``change-me``, sorted."""
    return sorted(name for name, value in environ.items() if value.strip() == PLACEHOLDER)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


def write_passwords(path: Path, environ=os.environ) -> str:
    """Set the admin's password in SimpleAuthManager's passwords file; returns the user name.
    Raises SystemExit when ``AIRFLOW_ADMIN_PASSWORD`` is empty."""
    user = _env(environ, "AIRFLOW_ADMIN_USER", "admin")
    password = environ.get("AIRFLOW_ADMIN_PASSWORD") or ""
    if not password:
        raise SystemExit("AIRFLOW_ADMIN_PASSWORD is not set (.env): the UI login needs it")
    passwords = {}
    if path.exists() and path.read_text().strip():
        passwords = json.loads(path.read_text())
    passwords[user] = password
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(passwords) + "\n")
    return user


def check_warehouse(environ=os.environ, attempts: int = 30) -> list[str]:
    """Connect to the warehouse and create the extensions it has; returns the extensions present."""
    import psycopg2

    from baselib.security import redaction

    params = dict(host=_env(environ, "WAREHOUSE_HOST", "warehouse"), port=int(_env(environ, "WAREHOUSE_PORT", "5432")),
                  user=_env(environ, "WAREHOUSE_USER", "baselib"), dbname=_env(environ, "WAREHOUSE_DB", "baselib"),
                  password=environ.get("WAREHOUSE_PASSWORD") or None, connect_timeout=5)
    for attempt in range(1, attempts + 1):
        try:
            conn = psycopg2.connect(**params)
            break
        except psycopg2.OperationalError as exc:
            if attempt == attempts:
                raise SystemExit(f"the warehouse {params['host']}:{params['port']}/{params['dbname']} does not "
                                 f"answer: {redaction.scrub(exc)}") from None
            time.sleep(2)
    present = []
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in ("postgis", "pg_stat_statements"):
                cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,))
                if cur.fetchone() is None:
                    print(f"warehouse: the server has no {name} extension", file=sys.stderr)
                    continue
                cur.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")  # noqa: S608 - fixed names above
                present.append(name)
    finally:
        conn.close()
    return present


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("placeholders")
    sub.add_parser("passwords").add_argument("file", type=Path)
    sub.add_parser("warehouse").add_argument("--attempts", type=int, default=30)
    sub.add_parser("connections").add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "placeholders":
        if left := placeholders():
            raise SystemExit("replace the placeholder change-me of " + ", ".join(left) + " in .env "
                             "(see .env.example for how to generate each)")
    elif args.command == "passwords":
        print(f"passwords: {write_passwords(args.file)} can log in to the UI")
    elif args.command == "warehouse":
        print("warehouse: answers; extensions: " + (", ".join(check_warehouse(attempts=args.attempts)) or "none"))
    else:
        conns, notes = build_connections()
        _write_private(args.file, json.dumps(conns))
        print("connections: " + " ".join(sorted(conns)))
        for note in notes:
            print("skipped " + note)


if __name__ == "__main__":
    main()
