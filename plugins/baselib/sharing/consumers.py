"""Consumers (共享使用方) declared in include/sharing/consumers.yaml, and their PostgreSQL LOGIN roles.

A consumer ``<code>`` is the LOGIN role ``consumer_<code>``, a member of the group
``sharing_consumer`` and of nothing else, with the schema ``share_<code>`` holding its views
(baselib.sharing.grants). Its password comes from the environment variable ``password_env``
(default ``BASELIB_CONSUMER_<CODE>_PASSWORD``), never from the repository."""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import yaml
from psycopg2 import sql
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from baselib.errors import SharingError
from baselib.identifiers import credit_code
from baselib.security import redaction
from baselib.settings import INCLUDE_DIR
from baselib.sharing import audit
from baselib.sharing.audit import GrantChange
from baselib.warehouse import sqlfiles

log = logging.getLogger(__name__)

CONSUMERS_FILE = Path(os.environ.get("BASELIB_CONSUMERS_FILE", INCLUDE_DIR / "sharing" / "consumers.yaml"))
CONSUMER_GROUP = "sharing_consumer"


class Department(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=2, description="使用部门")
    code: str = Field(description="the department's unified social credit code (统一社会信用代码)")

    @field_validator("code")
    @classmethod
    def _credit_code(cls, value: str) -> str:
        if not credit_code.is_valid(value):
            raise ValueError(f"{value!r} is not a valid unified social credit code")
        return value


class Consumer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$", description="lower-case identifier, e.g. tax_collection")
    name: str = Field(min_length=2, description="使用系统名称")
    department: Department
    password_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$",
                                     description="environment variable holding the password")
    connection_limit: int = Field(default=10, ge=1, le=1000)
    statement_timeout_seconds: int = Field(
        default=300, ge=1, le=86_400,
        description="longest statement the consumer may run (the role's statement_timeout), in seconds")
    idle_in_transaction_timeout_seconds: int = Field(
        default=60, ge=1, le=86_400,
        description="how long the consumer may keep a transaction open doing nothing before its session is "
                    "ended (the role's idle_in_transaction_session_timeout), in seconds")

    @property
    def role_name(self) -> str:
        return f"consumer_{self.code}"

    @property
    def share_schema(self) -> str:
        return f"share_{self.code}"

    @property
    def password_variable(self) -> str:
        return self.password_env or f"BASELIB_CONSUMER_{self.code.upper()}_PASSWORD"


class ConsumersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    consumers: list[Consumer]

    @field_validator("consumers")
    @classmethod
    def _unique(cls, value: list[Consumer]) -> list[Consumer]:
        seen: set[str] = set()
        for consumer in value:
            if consumer.code in seen:
                raise ValueError(f"consumer {consumer.code!r} is declared twice")
            seen.add(consumer.code)
        return value


def load(path: Path | None = None) -> list[Consumer]:
    """The declared consumers, in file order: ``path``, else ``BASELIB_CONSUMERS_FILE`` (read at
    call time), else include/sharing/consumers.yaml. Raises SharingError naming the file and the field."""
    path = Path(path or os.environ.get("BASELIB_CONSUMERS_FILE") or CONSUMERS_FILE)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {"consumers": []}
        return ConsumersFile.model_validate(data).consumers
    except (OSError, yaml.YAMLError) as exc:
        raise SharingError(f"{path}: cannot read the consumers file: {exc}") from exc
    except ValidationError as exc:
        raise SharingError(f"{path}: not a valid consumers file: {exc}") from exc


# --- LOGIN roles -------------------------------------------------------------------------------

# Serialises apply_roles across processes: "sharrol".
_ROLES_LOCK_KEY = 0x7368_6172_726F_6C
# PBKDF2-SHA256 for the password fingerprint kept in sharing.consumer (never the password).
_FINGERPRINT_ITERATIONS = 100_000


def password_fingerprint(password: str, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>``: a salted, slow hash of ``password``
    (a fresh random salt unless ``salt`` is given), to tell whether a consumer's password changed
    without storing it."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, _FINGERPRINT_ITERATIONS)
    return f"pbkdf2_sha256${_FINGERPRINT_ITERATIONS}${salt.hex()}${digest.hex()}"


def fingerprint_matches(password: str, fingerprint: str | None) -> bool:
    """Whether ``fingerprint`` (from :func:`password_fingerprint`) was made from ``password``."""
    try:
        scheme, iterations, salt, digest = (fingerprint or "").split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    again = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(again.hex(), digest)


# How long pg_terminate_backend waits for each ended session to exit (milliseconds).
_TERMINATE_WAIT_MS = 5000


def terminate_sessions(cur, role: str) -> int:
    """End every session of ``role`` in this database (not the caller's), waiting for each to exit;
    returns how many ended. Needs the engine to be a superuser or a member of pg_signal_backend;
    without that it logs a warning and returns 0 (the reconcile's lock_timeout then bounds the wait)."""
    cur.execute("SAVEPOINT terminate_sessions")
    try:
        cur.execute(sqlfiles.text("queries/sharing_consumer_terminate_sessions"), {"role": role, "timeout_ms": _TERMINATE_WAIT_MS})
        rows = cur.fetchall()
    except psycopg2.errors.InsufficientPrivilege as exc:
        cur.execute("ROLLBACK TO SAVEPOINT terminate_sessions")
        log.warning("cannot end the sessions of %s (grant pg_signal_backend to the warehouse owner): %s",
                    role, str(exc).strip())
        return 0
    cur.execute("RELEASE SAVEPOINT terminate_sessions")
    return sum(1 for _, ended in rows if ended)


def role_settings(consumer: Consumer) -> dict[str, str]:
    """The settings the engine gives a consumer's role (ALTER ROLE … SET), as pg_roles.rolconfig
    shows them: its search_path, and the timeouts that keep a consumer from holding a statement or
    an idle transaction (and the locks on its views) open: ``statement_timeout`` and
    ``idle_in_transaction_session_timeout``, from the consumers file. Any other setting is reset."""
    return {"search_path": f"{consumer.share_schema}, catalog",
            "statement_timeout": f"{consumer.statement_timeout_seconds}s",
            "idle_in_transaction_session_timeout": f"{consumer.idle_in_transaction_timeout_seconds}s"}


# Role attributes a consumer never has (pg_roles column → ALTER ROLE keyword that removes it).
_FORBIDDEN_ATTRIBUTES = {"rolsuper": "NOSUPERUSER", "rolcreatedb": "NOCREATEDB", "rolcreaterole": "NOCREATEROLE",
                         "rolreplication": "NOREPLICATION", "rolbypassrls": "NOBYPASSRLS"}
# Errors that say nothing about the consumers file or the server's rules, only that this attempt
# failed (a timeout, a deadlock, a serialization failure, a lost connection): they propagate, so
# the caller (the DAG) tries again.
_TRANSIENT = (psycopg2.OperationalError, psycopg2.extensions.TransactionRollbackError, psycopg2.InterfaceError)


def _q(name: str) -> str:
    return sqlfiles.text(f"queries/sharing_consumer_{name}")


def apply_roles(conn, consumers: list[Consumer] | None = None, *, password_lookup=None,
                run_id: str | None = None) -> list[GrantChange]:
    """Make each declared consumer a PostgreSQL role and a row of ``sharing.consumer``; record each
    change in sharing.grant_change and return them. Commits; idempotent (the same input twice: the
    second run changes and records nothing).

    ``consumers``: default :func:`load`. ``password_lookup(variable) -> str | None``: default
    ``os.environ.get``, called with each consumer's ``password_variable``. Per consumer, the role
    ``consumer_<code>``: LOGIN with that password (sent to the server as a SCRAM-SHA-256 verifier
    computed here, so the password appears in no statement, log or pg_stat_statements); with no
    password available, a new role is NOLOGIN and a role that can log in keeps the password set
    earlier (a warning names the variable either way: running this without the consumers' secrets
    must not lock every consumer out; removing a consumer from the file ends its access); its
    CONNECTION LIMIT; ``search_path``
    ``share_<code>, catalog``. The password is compared through a salted PBKDF2 fingerprint in
    ``sharing.consumer.password_fingerprint`` (a change made by hand with ALTER ROLE is not seen).
    Its settings are exactly :func:`role_settings` (anything else set on the role, also for this
    database only, is reset) and it has none of SUPERUSER, CREATEDB, CREATEROLE, REPLICATION,
    BYPASSRLS (each one found is removed); each change is recorded.
    A consumer in the table but no longer declared becomes NOLOGIN and ``active = false``, its
    approved applications are revoked (declared again, it applies again: its old access does not
    come back), and its sessions in this database are ended (NOLOGIN alone ends none);
    ``grants.reconcile`` then takes its views and grants. Memberships and privileges are the
    reconcile's. Raises SharingError (message redacted) when the server refuses a change (a
    configuration error: retrying does not help); a transient error (psycopg2.OperationalError
    such as a timeout or a lost connection, TransactionRollbackError such as a deadlock) propagates
    as that error class, its message redacted, so that the caller may retry. Nothing is committed
    then."""
    consumers = load() if consumers is None else consumers
    lookup = password_lookup or os.environ.get
    changes: list[GrantChange] = []

    def add(cur, change: GrantChange) -> None:
        audit.record(cur, change, run_id)
        changes.append(change)
        log.info("sharing: %s %s %s (%s)", change.action, change.role_name, change.object, change.detail or "")

    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_ROLES_LOCK_KEY,))
            cur.execute(_q("rows"))
            rows = {r[0]: r for r in cur.fetchall()}
            for consumer in consumers:
                _apply_one(conn, cur, consumer, rows.get(consumer.code), lookup(consumer.password_variable) or None,
                           lambda change: add(cur, change))
            declared = {c.code for c in consumers}
            for code, row in sorted(rows.items()):
                if code in declared:
                    continue
                role = row[4]
                cur.execute(_q("role_state"), (role,))
                state = cur.fetchone()
                if state and state[0]:
                    cur.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))
                    add(cur, GrantChange(role, "disable_login", role, "consumer no longer declared in the consumers file",
                                         code))
                if state:
                    ended = terminate_sessions(cur, role)
                    if ended:
                        add(cur, GrantChange(role, "terminate_sessions", role,
                                             "consumer no longer declared in the consumers file", code,
                                             detail=f"{ended} session(s) ended"))
                if row[6]:
                    cur.execute(_q("deactivate"), (code,))
                    add(cur, GrantChange(role, "deactivate_consumer", code,
                                         "consumer no longer declared in the consumers file", code))
                cur.execute(_q("revoke_applications"), (code,))
                for (application_id,) in cur.fetchall():
                    add(cur, GrantChange(role, "revoke_application", f"application {application_id}",
                                         "consumer no longer declared in the consumers file", code,
                                         application_id=application_id))
        conn.commit()
    except _TRANSIENT as exc:
        conn.rollback()
        raise type(exc)(f"cannot apply the consumers' roles now (transient, try again): "
                        f"{redaction.redact(str(exc)).strip()}") from None
    except psycopg2.Error as exc:
        conn.rollback()
        raise SharingError(f"cannot apply the consumers' roles: {redaction.redact(str(exc)).strip()}") from None
    except BaseException:
        conn.rollback()
        raise
    return changes


def _apply_one(conn, cur, consumer: Consumer, row, password: str | None, add) -> None:
    role, code = consumer.role_name, consumer.code
    ident = sql.Identifier(role)
    cur.execute(_q("role_state"), (role,))
    state = cur.fetchone()
    fingerprint = row[7] if row else None
    new_fingerprint = fingerprint
    if state is None:
        cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN CONNECTION LIMIT {}").format(
            ident, sql.Literal(consumer.connection_limit)))
        add(GrantChange(role, "create_role", role, "consumer declared in the consumers file", code,
                        detail=f"connection limit {consumer.connection_limit}"))
        can_login, limit, config, attributes, database_config = False, consumer.connection_limit, [], {}, []
        fingerprint = None  # a new role (also one dropped by hand) has no password yet
    else:
        can_login, limit, config = state[:3]
        attributes = dict(zip(_FORBIDDEN_ATTRIBUTES, state[3:8]))
        database_config = state[8]
    if password is not None and not fingerprint_matches(password, fingerprint):
        verifier = psycopg2.extensions.encrypt_password(password, role, conn, "scram-sha-256")
        cur.execute(sql.SQL("ALTER ROLE {} PASSWORD %s").format(ident), (verifier,))
        new_fingerprint = password_fingerprint(password)
        add(GrantChange(role, "set_password", role, f"password from {consumer.password_variable}", code))
    if password is None and can_login:
        # an operator running the CLI without the consumers' secrets must not lock every consumer out:
        # the password set earlier stays; removing the consumer from the file is what ends its access
        log.warning("consumer %s: no password in %s: its role %s keeps the password set earlier", code,
                    consumer.password_variable, role)
    elif password is None:
        log.warning("consumer %s: no password in %s: its role %s cannot log in", code, consumer.password_variable,
                    role)
    elif not can_login:
        cur.execute(sql.SQL("ALTER ROLE {} LOGIN").format(ident))
        add(GrantChange(role, "enable_login", role, f"password set in {consumer.password_variable}", code))
    if limit != consumer.connection_limit:
        cur.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(ident, sql.Literal(consumer.connection_limit)))
        add(GrantChange(role, "set_connection_limit", role, "consumers file", code,
                        detail=f"{limit} -> {consumer.connection_limit}"))
    for column, keyword in _FORBIDDEN_ATTRIBUTES.items():
        if attributes.get(column):
            cur.execute(sql.SQL("ALTER ROLE {} {}").format(ident, sql.SQL(keyword)))
            add(GrantChange(role, "revoke_attribute", role, "a consumer role has no such attribute (given by hand)",
                            code, detail=keyword))
    _apply_settings(cur, consumer, config, database_config, add)
    values = (consumer.name, consumer.department.name, consumer.department.code, role, consumer.share_schema)
    if row is None:
        cur.execute(_q("insert"), (code, *values, new_fingerprint))
        add(GrantChange(role, "declare_consumer", code, "consumer declared in the consumers file", code,
                        detail=f"{consumer.name}, {consumer.department.name}"))
        return
    changed = [name for name, old, new in zip(("consumer_name", "department_name", "department_code", "role_name",
                                                "share_schema"), row[1:6], values) if old != new]
    if changed or not row[6] or new_fingerprint != fingerprint:
        cur.execute(_q("update"), (*values, new_fingerprint, code))
    if changed:
        add(GrantChange(role, "update_consumer", code, "consumers file changed", code, detail=", ".join(changed)))
    if not row[6]:
        add(GrantChange(role, "activate_consumer", code, "consumer declared again in the consumers file", code))


def _apply_settings(cur, consumer: Consumer, config: list[str], database_config: list[str], add) -> None:
    """Make the role's settings exactly :func:`role_settings`: set what differs, reset any other
    setting (also those for this database only), recording each."""
    role, code = consumer.role_name, consumer.code
    ident = sql.Identifier(role)
    held = dict(c.split("=", 1) for c in config if "=" in c)
    for name, value in role_settings(consumer).items():
        if held.get(name) == value:
            continue
        if name == "search_path":
            cur.execute(sql.SQL("ALTER ROLE {} SET search_path = {}, catalog").format(
                ident, sql.Identifier(consumer.share_schema)))
            add(GrantChange(role, "set_search_path", role, "a consumer reads its own schema, then the catalog", code,
                            detail=value))
        else:
            cur.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(ident, sql.Identifier(name), sql.Literal(value)))
            add(GrantChange(role, "set_config", role, "consumers file: a consumer holds no statement or idle "
                            "transaction (nor the locks on its views) open longer", code, detail=f"{name} = {value}"))
    for name in sorted(set(held) - set(role_settings(consumer))):
        cur.execute(sql.SQL("ALTER ROLE {} RESET {}").format(ident, sql.Identifier(name)))
        add(GrantChange(role, "reset_config", role, "a setting the engine does not give a consumer (set by hand)",
                        code, detail=f"{name} (was {held[name]})"))
    for setting in database_config:
        name = setting.split("=", 1)[0]
        cur.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} RESET {}").format(
            ident, sql.Identifier(_current_database(cur)), sql.Identifier(name)))
        add(GrantChange(role, "reset_config", role, "a setting for this database the engine does not give a consumer "
                        "(set by hand)", code, detail=f"{name} in this database (was {setting.split('=', 1)[-1]})"))


def _current_database(cur) -> str:
    cur.execute("SELECT current_database()")
    return cur.fetchone()[0]
