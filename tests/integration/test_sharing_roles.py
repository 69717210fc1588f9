"""Consumers become real PostgreSQL LOGIN roles (baselib.sharing.consumers.apply_roles): created
with their password, connection limit and search_path, changed only when the file or the password
changes, disabled when no longer declared; every change recorded, no password stored or logged."""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging

import psycopg2
import psycopg2.errors
import pydantic
import pytest

from baselib.errors import SharingError
from baselib.orchestration import sharing_dag
from baselib.sharing import consumers as consumers_mod
from baselib.warehouse import schema
from tests.integration import sharing_fixtures

sharing_consumers = sharing_fixtures.sharing_consumers  # the fixture


def _ensure_ddl(dbs) -> None:
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
    finally:
        conn.close()


def _apply(dbs, declared=None, **kwargs):
    conn = dbs.warehouse()
    try:
        return consumers_mod.apply_roles(conn, declared, **kwargs)
    finally:
        conn.close()


def _password_is(dbs, role: str, password: str) -> bool:
    """Whether the role's stored SCRAM-SHA-256 verifier (pg_authid, superuser) was made from
    ``password``: the test server may trust local TCP logins, so a login proves nothing."""
    verifier = dbs.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
    method, rest = verifier.split("$", 1)
    assert method == "SCRAM-SHA-256"
    params, keys = rest.split("$")
    iterations, salt = params.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key


def _actions(changes) -> list[tuple[str, str]]:
    return sorted((c.role_name, c.action) for c in changes)


def test_declared_consumers_become_login_roles_and_a_second_run_changes_nothing(dbs, sharing_consumers):
    _ensure_ddl(dbs)
    declared = sharing_consumers("tax", "relief")
    tax, relief = declared.role("tax"), declared.role("relief")

    changes = _apply(dbs)

    assert _actions(changes) == sorted(
        (role, action) for role in (tax, relief)
        for action in ("create_role", "set_password", "enable_login", "set_search_path", "set_config", "set_config",
                       "declare_consumer"))
    assert dbs.scalar("SELECT count(*) FROM sharing.grant_change") == len(changes)
    rows = dbs.query("SELECT r.rolname, r.rolcanlogin, r.rolconnlimit, r.rolconfig FROM pg_roles r "
                     "WHERE r.rolname = ANY(%s) ORDER BY 1", ([tax, relief],))
    assert [(name, login, limit, sorted(config)) for name, login, limit, config in rows] == sorted(
        [(role, True, 10, sorted([f"search_path=share_{declared.code(s)}, catalog", "statement_timeout=300s",
                                  "idle_in_transaction_session_timeout=60s"]))
         for s, role in (("tax", tax), ("relief", relief))])
    assert dbs.query("SELECT consumer_code, role_name, share_schema, active FROM sharing.consumer ORDER BY 1") == sorted(
        [(declared.code(s), declared.role(s), f"share_{declared.code(s)}", True) for s in ("tax", "relief")])

    with declared.login("tax") as conn, conn.cursor() as cur:
        cur.execute("SELECT session_user, current_setting('search_path')")
        assert cur.fetchone() == (tax, f"share_{declared.code('tax')}, catalog")
    conn.close()
    assert _password_is(dbs, tax, declared.passwords[declared.code("tax")])
    assert not _password_is(dbs, tax, declared.passwords[declared.code("relief")])

    assert _apply(dbs) == []
    assert dbs.scalar("SELECT count(*) FROM sharing.grant_change") == len(changes)

    # a role dropped by hand is created again, with its password
    dbs.query(f"DROP ROLE {relief}")
    assert sorted(c.action for c in _apply(dbs)) == ["create_role", "enable_login", "set_config", "set_config",
                                                     "set_password", "set_search_path"]
    assert _password_is(dbs, relief, declared.passwords[declared.code("relief")])


def test_no_password_is_stored_recorded_or_sent_as_text(dbs, sharing_consumers):
    _ensure_ddl(dbs)
    declared = sharing_consumers("tax")
    password = declared.passwords[declared.code("tax")]
    dbs.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    evictions = dbs.scalar("SELECT dealloc FROM pg_stat_statements_info")

    _apply(dbs)

    # the server received a SCRAM verifier, never the password: pg_stat_statements keeps utility
    # statements' text as sent (read at once, before other statements may make it evict entries)
    sent = dbs.query("SELECT query FROM pg_stat_statements WHERE query LIKE %s OR query LIKE %s",
                     (f"%{password}%", f"%{declared.role('tax')}%PASSWORD%"))
    assert not [q for (q,) in sent if password in q]
    if not sent:  # the ALTER ROLE's entry was evicted (the suite fills the server's statistics): say so
        assert dbs.scalar("SELECT dealloc FROM pg_stat_statements_info") > evictions, \
            "pg_stat_statements kept no ALTER ROLE … PASSWORD statement and evicted nothing"
    else:
        assert all("SCRAM-SHA-256$" in q for (q,) in sent), sent
    fingerprint = dbs.scalar("SELECT password_fingerprint FROM sharing.consumer")
    assert fingerprint.startswith("pbkdf2_sha256$") and password not in fingerprint
    assert consumers_mod.fingerprint_matches(password, fingerprint)
    assert not consumers_mod.fingerprint_matches(password + "x", fingerprint)
    assert dbs.scalar("SELECT count(*) FROM sharing.grant_change WHERE concat_ws(' ', role_name, action, object, "
                      "detail, reason) LIKE %s", (f"%{password}%",)) == 0
    assert dbs.scalar("SELECT count(*) FROM sharing.grant_change WHERE action = 'set_password' AND detail IS NULL") == 1


def test_a_changed_password_is_set_and_the_old_one_stops_working(dbs, sharing_consumers, monkeypatch):
    _ensure_ddl(dbs)
    declared = sharing_consumers("tax")
    code = declared.code("tax")
    old = declared.passwords[code]
    _apply(dbs)
    monkeypatch.setenv(f"BASELIB_CONSUMER_{code.upper()}_PASSWORD", "a-new-password-for-the-test")

    changes = _apply(dbs)

    assert [(c.action, c.detail) for c in changes] == [("set_password", None)]
    assert _password_is(dbs, declared.role("tax"), "a-new-password-for-the-test")
    assert not _password_is(dbs, declared.role("tax"), old)
    declared.login("tax", "a-new-password-for-the-test").close()
    assert _apply(dbs) == []


def test_a_consumer_without_a_password_cannot_log_in_and_the_warning_names_the_variable(
        dbs, sharing_consumers, monkeypatch, caplog):
    """A new consumer with no password is NOLOGIN; one that can log in keeps the password set earlier
    when the variable is missing (an operator running the CLI without the secrets locks nobody out)."""
    _ensure_ddl(dbs)
    declared = sharing_consumers("tax", "relief")
    relief_variable = f"BASELIB_CONSUMER_{declared.code('relief').upper()}_PASSWORD"
    monkeypatch.delenv(relief_variable)
    _apply(dbs)
    assert dbs.scalar("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (declared.role("relief"),)) is False
    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        declared.login("relief")
    variable = f"BASELIB_CONSUMER_{declared.code('tax').upper()}_PASSWORD"
    monkeypatch.delenv(variable)

    with caplog.at_level(logging.WARNING, logger="baselib.sharing.consumers"):
        changes = _apply(dbs)

    assert changes == []
    assert variable in caplog.text and "keeps the password set earlier" in caplog.text
    assert relief_variable in caplog.text and "cannot log in" in caplog.text
    declared.login("tax").close()  # still the password set earlier
    # relief's password arrives: it can log in
    monkeypatch.setenv(relief_variable, declared.passwords[declared.code("relief")])
    assert [c.action for c in _apply(dbs)] == ["set_password", "enable_login"]
    declared.login("relief").close()


def test_a_consumer_removed_from_the_file_loses_its_login_its_sessions_and_keeps_its_history(dbs, sharing_consumers):
    _ensure_ddl(dbs)
    declared = sharing_consumers("tax", "relief")
    everyone = consumers_mod.load()
    _apply(dbs)
    session = declared.login("tax")  # NOLOGIN alone would let it go on
    [(approved,)] = dbs.query(
        "INSERT INTO sharing.application (consumer_code, resource_code, provider_code, sharing_type, items, purpose, "
        "legal_basis, period_start, period_end, status, response_limit_days, due_at, decided_at) VALUES (%s, "
        "'101001/000001', '11360000014400005D', '有条件共享', ARRAY['name'], '核验', '依据', current_date, "
        "current_date + 30, 'approved', 5, now() + interval '7 days', now()) RETURNING application_id",
        (declared.code("tax"),))

    changes = _apply(dbs, [c for c in everyone if c.code == declared.code("relief")])

    assert _actions(changes) == [(declared.role("tax"), "deactivate_consumer"), (declared.role("tax"), "disable_login"),
                                 (declared.role("tax"), "revoke_application"), (declared.role("tax"), "terminate_sessions")]
    # declared again later, it does not get its old access back: the approval was revoked
    assert dbs.query("SELECT status, revoke_reason FROM sharing.application WHERE application_id = %s", (approved,)) == [
        ("revoked", "consumer no longer declared in the consumers file")]
    with pytest.raises(psycopg2.OperationalError):
        with session.cursor() as cur:
            cur.execute("SELECT 1")
    session.close()
    assert dbs.query("SELECT consumer_code, active FROM sharing.consumer ORDER BY active") == [
        (declared.code("tax"), False), (declared.code("relief"), True)]
    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        declared.login("tax")
    declared.login("relief").close()
    assert _apply(dbs, [c for c in everyone if c.code == declared.code("relief")]) == []
    # declared again: active and able to log in
    assert sorted(c.action for c in _apply(dbs, everyone)) == ["activate_consumer", "enable_login"]
    declared.login("tax").close()


def test_a_refused_change_is_a_sharing_error_without_the_password(dbs, sharing_consumers):
    declared = sharing_consumers("tax")
    # no sharing DDL in this warehouse: the server refuses, the message is clear and redacted
    with pytest.raises(SharingError, match="sharing.consumer") as caught:
        _apply(dbs)
    assert declared.passwords[declared.code("tax")] not in str(caught.value)


def test_role_attributes_and_settings_given_by_hand_are_removed(dbs, sharing_consumers):
    """Only the engine's settings stay on a consumer role: an attribute given by hand (with
    CREATEROLE a consumer grants itself pg_read_all_data) and any other setting, also one for this
    database only, are removed and recorded; a second run changes nothing."""
    _ensure_ddl(dbs)
    declared = sharing_consumers("tax")
    role = declared.role("tax")
    _apply(dbs)
    db = dbs.scalar("SELECT current_database()")
    dbs.query(f"ALTER ROLE {role} CREATEROLE CREATEDB BYPASSRLS REPLICATION; ALTER ROLE {role} SET work_mem = '1GB';"
              f"ALTER ROLE {role} SET statement_timeout = 0; ALTER ROLE {role} IN DATABASE {db} SET search_path = public")

    changes = _apply(dbs)

    assert sorted((c.action, c.detail) for c in changes) == sorted([
        ("revoke_attribute", "NOCREATEROLE"), ("revoke_attribute", "NOCREATEDB"), ("revoke_attribute", "NOBYPASSRLS"),
        ("revoke_attribute", "NOREPLICATION"), ("set_config", "statement_timeout = 300s"),
        ("reset_config", "work_mem (was 1GB)"), ("reset_config", "search_path in this database (was public)")])
    assert dbs.query("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles "
                     "WHERE rolname = %s", (role,)) == [(False, False, False, False, False)]
    assert dbs.scalar("SELECT count(*) FROM pg_db_role_setting WHERE setrole = %s::regrole", (role,)) == 1
    with declared.login("tax") as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('search_path'), current_setting('work_mem') <> '1GB'")
        assert cur.fetchone() == (f"share_{declared.code('tax')}, catalog", True)
    conn.close()
    assert _apply(dbs) == []


def test_consumer_roles_get_timeouts_from_the_consumers_file(dbs, sharing_consumers):
    """A consumer cannot hold a statement or an idle transaction (and the locks on its views) open
    for long: the role's statement_timeout and idle_in_transaction_session_timeout, by default 300 s
    and 60 s, overridable per consumer."""
    _ensure_ddl(dbs)
    declared = sharing_consumers("tax")
    slow = consumers_mod.load()[0].model_copy(update={"statement_timeout_seconds": 1800,
                                                      "idle_in_transaction_timeout_seconds": 30})
    _apply(dbs)
    changes = _apply(dbs, [slow])

    assert sorted(c.detail for c in changes) == ["idle_in_transaction_session_timeout = 30s",
                                                 "statement_timeout = 1800s"]
    with declared.login("tax") as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')")
        assert cur.fetchone() == ("30min", "30s")
    conn.close()
    with pytest.raises(pydantic.ValidationError, match="statement_timeout_seconds"):
        consumers_mod.ConsumersFile.model_validate({"consumers": [{**slow.model_dump(), "statement_timeout_seconds": 0}]})


def test_a_transient_database_error_in_apply_consumers_is_retried_not_failed_fast(dbs, sharing_consumers, monkeypatch):
    """A lock wait cut by statement_timeout is transient: the task must raise something Airflow
    retries (not AirflowFailException), and change nothing."""
    from airflow.sdk.exceptions import AirflowFailException

    sharing_consumers("r3a")  # BASELIB_CONSUMERS_FILE: only this test's consumer, never the demo's
    sep = "&" if "?" in dbs.warehouse_uri else "?"
    monkeypatch.delenv("AIRFLOW_CONN_WAREHOUSE", raising=False)
    monkeypatch.setenv("WAREHOUSE_URL", dbs.warehouse_uri + sep + "options=-c%20statement_timeout%3D1000")
    holder = psycopg2.connect(dbs.warehouse_uri)
    try:
        # the shared DDL first, so that the task's schema.ensure does not wait on anything else
        conn = dbs.warehouse()
        try:
            from baselib.warehouse import schema
            schema.ensure(conn, [])
        finally:
            conn.close()
        with holder.cursor() as cur:  # another reconcile of the roles is under way
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (consumers_mod._ROLES_LOCK_KEY,))
        with pytest.raises(Exception) as caught:
            sharing_dag.apply_consumers("review_r3")
    finally:
        holder.rollback()
        holder.close()
    assert not isinstance(caught.value, AirflowFailException), (
        f"a statement timeout became a non-retriable failure: {caught.value!r}")
    assert isinstance(caught.value, psycopg2.errors.QueryCanceled), caught.value
    assert "transient, try again" in str(caught.value)
    assert dbs.scalar("SELECT count(*) FROM sharing.grant_change WHERE run_id = 'review_r3'") == 0
