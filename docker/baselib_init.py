"""The project's part of the compose file's ``airflow-init`` service (called by airflow-init.sh).

Sub-commands (every value comes from the environment; nothing secret is printed):

* ``placeholders`` — exit status 1 naming every variable whose value is still ``.env.example``'s
  placeholder ``change-me`` (the secrets must be replaced before the first start).
* ``admin`` — the UI login of the configured auth manager (``[core] auth_manager``), from
  ``AIRFLOW_ADMIN_USER`` (default ``admin``), ``AIRFLOW_ADMIN_PASSWORD`` and ``AIRFLOW_ADMIN_EMAIL``
  (default ``<user>@example.com``). FabAuthManager (the compose deployment): the user is created
  with the role ``Admin`` in the metadata database through FAB's security manager, or — when it
  exists — given that password (only when it differs), the role ``Admin`` and ``active``; other
  users are untouched. SimpleAuthManager (tests, ``make up``): the user's entry in its passwords
  file (``[core] simple_auth_manager_passwords_file``, JSON ``{user: password}``, mode 0600).
  The password is read from the environment only: it is on no command line and in no output.
  Prints ``admin: <user> created|password updated|updated|unchanged``; exit status 1 when
  ``AIRFLOW_ADMIN_PASSWORD`` is empty or the auth manager is neither.
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
  Each connection carries the description ``MANAGED`` (``managed by airflow-init from .env``).
* ``prune`` — delete the connections airflow-init manages whose variable is now empty (a source's
  access revoked, the webhook switched off): only ids of the list above, and only those carrying
  the ``MANAGED`` description (a connection an operator created in the UI under such an id stays,
  with a note). Needs Airflow (the metadata database of ``[database] sql_alchemy_conn``).

Runs with the image's Python; the catalog is read with ``baselib`` from ``PYTHONPATH``. Only
``admin`` and ``prune`` import Airflow.
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
# the description of every connection airflow-init writes: ``prune`` deletes only these
MANAGED = "managed by airflow-init from .env"
FAB_ADMIN_ROLE = "Admin"


def _env(environ, name: str, default: str = "") -> str:
    return (environ.get(name) or default).strip()


def source_conn_ids() -> list[str]:
    """The catalog's source connection ids (postgres and http_api sources), sorted."""
    from baselib.catalog import load_catalog

    return sorted({r.pipeline.source.conn_id for r in load_catalog() if r.pipeline.source.kind in SOURCE_KINDS})


def conn_variable(conn_id: str) -> str:
    """The environment variable airflow-init reads a source connection from."""
    return f"BASELIB_CONN_{conn_id.upper()}"


def managed_conn_ids(sources: list[str] | None = None) -> list[str]:
    """Every connection id airflow-init writes when its variables are set, sorted."""
    fixed = ["warehouse", "evaluation_api", "baselib_alerts", "smtp_default"]
    return sorted({*fixed, *(source_conn_ids() if sources is None else sources)})


def _managed(value) -> dict:
    """An import entry (URI str or connection dict) with the ``MANAGED`` description."""
    entry = {"uri": value} if isinstance(value, str) else dict(value)
    return {**entry, "description": MANAGED}


def build_connections(environ=os.environ, sources: list[str] | None = None) -> tuple[dict, list[str]]:
    """``({conn_id: URI str | Airflow connection dict}, [notes on skipped connections])``; the
    entries written to the import file are these with the ``MANAGED`` description
    (``import_entries``)."""
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


def import_entries(conns: dict) -> dict:
    """``{conn_id: connection dict}`` for ``airflow connections import``: each entry of
    ``build_connections`` with the ``MANAGED`` description (a URI becomes ``{"uri": …}``)."""
    return {conn_id: _managed(value) for conn_id, value in conns.items()}


def unset_conn_ids(environ=os.environ, sources: list[str] | None = None) -> list[str]:
    """The managed connection ids whose variables are empty now (``prune`` deletes them), sorted."""
    conns, _ = build_connections(environ, sources)
    return sorted(set(managed_conn_ids(sources)) - set(conns))


def prune_connections(conn_ids: list[str]) -> tuple[list[str], list[str]]:
    """Delete the connections of ``conn_ids`` that carry the ``MANAGED`` description from the
    metadata database; returns ``(deleted ids, ids kept because an operator created them)``."""
    from sqlalchemy import select

    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    deleted, kept = [], []
    if not conn_ids:
        return deleted, kept
    with create_session() as session:
        for conn in session.scalars(select(Connection).where(Connection.conn_id.in_(conn_ids))):
            if conn.description == MANAGED:
                session.delete(conn)
                deleted.append(conn.conn_id)
            else:
                kept.append(conn.conn_id)
    return sorted(deleted), sorted(kept)


def admin_login(environ=os.environ) -> tuple[str, str]:
    """``(user, password)`` of the UI's administrator; SystemExit when the password is empty."""
    user = _env(environ, "AIRFLOW_ADMIN_USER", "admin")
    password = environ.get("AIRFLOW_ADMIN_PASSWORD") or ""
    if not password:
        raise SystemExit("AIRFLOW_ADMIN_PASSWORD is not set (.env): the UI login needs it")
    return user, password


def ensure_fab_admin(environ=os.environ) -> tuple[str, str]:
    """Create or update the administrator in FabAuthManager's user tables (created by
    ``airflow db migrate``); returns ``(user, "created" | "password updated" | "updated" |
    "unchanged")``. The password is hashed by FAB's security manager (scrypt by default)."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
    from airflow.utils.providers_configuration_loader import providers_configuration_loaded

    user_name, password = admin_login(environ)
    email = _env(environ, "AIRFLOW_ADMIN_EMAIL") or f"{user_name}@example.com"

    @providers_configuration_loaded
    def apply() -> str:
        with get_application_builder() as appbuilder:
            sm = appbuilder.sm
            role = sm.find_role(FAB_ADMIN_ROLE)
            if role is None:
                raise SystemExit(f"FAB has no role {FAB_ADMIN_ROLE}: did `airflow db migrate` run?")
            user = sm.find_user(username=user_name)
            if user is None:
                sm.add_user(user_name, user_name, "Airflow", email, role, password)
                return "created"
            changes = []
            if not sm.check_password(user.username, password):
                # hashes it, ends the user's sessions, saves
                if not sm.reset_password(user.id, password):
                    raise SystemExit(f"could not set the password of the FAB user {user_name}")
                changes.append("password updated")
                user = sm.find_user(username=user_name)
            if role not in user.roles or not user.active:
                user.roles = [*user.roles, role] if role not in user.roles else user.roles
                user.active = True
                if not sm.update_user(user):
                    raise SystemExit(f"could not update the FAB user {user_name}")
                changes.append("role and state")
            if not changes:
                return "unchanged"
            return "password updated" if changes == ["password updated"] else "updated"

    return user_name, apply()


def write_simple_passwords(path: Path, environ=os.environ) -> tuple[str, str]:
    """Set the admin's entry in SimpleAuthManager's passwords file; returns ``(user, what)``."""
    user, password = admin_login(environ)
    passwords = {}
    if path.exists() and path.read_text().strip():
        passwords = json.loads(path.read_text())
    if passwords.get(user) == password:
        return user, "unchanged"
    what = "password updated" if user in passwords else "created"
    passwords[user] = password
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(passwords) + "\n")
    return user, what


def ensure_admin(environ=os.environ) -> tuple[str, str]:
    """The administrator of the configured auth manager (see the module's ``admin``)."""
    admin_login(environ)  # an empty password stops it before Airflow is imported
    from airflow.configuration import conf

    manager = conf.get("core", "auth_manager")
    if manager.endswith(".FabAuthManager"):
        return ensure_fab_admin(environ)
    if manager.endswith(".SimpleAuthManager"):
        return write_simple_passwords(Path(conf.get("core", "simple_auth_manager_passwords_file")), environ)
    raise SystemExit(f"airflow-init creates the UI login for FabAuthManager or SimpleAuthManager, not {manager}")


# The container's variables built from a `.env` one (docker-compose.yaml): a placeholder left in them is
# named by the `.env` variable the operator must change.
ENV_FILE_NAMES = dict((
    ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_FERNET_KEY"),
    ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET"),
    ("AIRFLOW__API__SECRET_KEY", "AIRFLOW_API_SECRET_KEY"),
    ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_DB_PASSWORD"),
    ("AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW_DB_PASSWORD"),
))


def placeholders(environ=os.environ) -> list[str]:
    """The `.env` names of the variables whose value is still the placeholder ``change-me`` — the
    whole value, or a URL's password (``…:change-me@…``) — sorted, without repeats; a container
    variable built from a `.env` one is named by it (:data:`ENV_FILE_NAMES`)."""
    return sorted({ENV_FILE_NAMES.get(name, name) for name, value in environ.items()
                   if value.strip() == PLACEHOLDER or f":{PLACEHOLDER}@" in value})


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


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
    sub.add_parser("admin")
    sub.add_parser("prune")
    sub.add_parser("warehouse").add_argument("--attempts", type=int, default=30)
    sub.add_parser("connections").add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "placeholders":
        if left := placeholders():
            raise SystemExit("replace the placeholder change-me of " + ", ".join(left) + " in .env "
                             "(see .env.example for how to generate each)")
    elif args.command == "admin":
        user, what = ensure_admin()
        print(f"admin: {user} {what}")
    elif args.command == "prune":
        deleted, kept = prune_connections(unset_conn_ids())
        print("prune: deleted " + (" ".join(deleted) or "none"))
        for conn_id in kept:
            print(f"prune: kept {conn_id}: its variable is empty, but it was not created by airflow-init "
                  "(delete it in the UI if it is no longer wanted)")
    elif args.command == "warehouse":
        print("warehouse: answers; extensions: " + (", ".join(check_warehouse(attempts=args.attempts)) or "none"))
    else:
        conns, notes = build_connections()
        _write_private(args.file, json.dumps(import_entries(conns)))
        print("connections: " + " ".join(sorted(conns)))
        for note in notes:
            print("skipped " + note)


if __name__ == "__main__":
    main()
