"""Consumers become real PostgreSQL LOGIN roles (baselib.sharing.consumers.apply_roles): created
with their password, connection limit and search_path, changed only when the file or the password
changes, disabled when no longer declared; every change recorded, no password stored or logged."""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging

import psycopg2
import pytest

from baselib.errors import SharingError
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
        for action in ("create_role", "set_password", "enable_login", "set_search_path", "declare_consumer"))
    assert dbs.scalar("SELECT count(*) FROM sharing.grant_change") == len(changes)
    rows = dbs.query("SELECT r.rolname, r.rolcanlogin, r.rolconnlimit, r.rolconfig FROM pg_roles r "
                     "WHERE r.rolname = ANY(%s) ORDER BY 1", ([tax, relief],))
    assert rows == sorted([(role, True, 10, [f"search_path=share_{declared.code(s)}, catalog"])
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
    assert sorted(c.action for c in _apply(dbs)) == ["create_role", "enable_login", "set_password", "set_search_path"]
    assert _password_is(dbs, relief, declared.passwords[declared.code("relief")])


def test_no_password_is_stored_recorded_or_sent_as_text(dbs, sharing_consumers):
    _ensure_ddl(dbs)
    declared = sharing_consumers("tax")
    password = declared.passwords[declared.code("tax")]
    dbs.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    _apply(dbs)

    fingerprint = dbs.scalar("SELECT password_fingerprint FROM sharing.consumer")
    assert fingerprint.startswith("pbkdf2_sha256$") and password not in fingerprint
    assert consumers_mod.fingerprint_matches(password, fingerprint)
    assert not consumers_mod.fingerprint_matches(password + "x", fingerprint)
    assert dbs.scalar("SELECT count(*) FROM sharing.grant_change WHERE concat_ws(' ', role_name, action, object, "
                      "detail, reason) LIKE %s", (f"%{password}%",)) == 0
    assert dbs.scalar("SELECT count(*) FROM sharing.grant_change WHERE action = 'set_password' AND detail IS NULL") == 1
    # the server received a SCRAM verifier, never the password: pg_stat_statements keeps utility
    # statements' text as sent
    assert dbs.scalar("SELECT count(*) FROM pg_stat_statements WHERE query LIKE %s", (f"%{password}%",)) == 0
    assert dbs.scalar("SELECT count(*) FROM pg_stat_statements WHERE query LIKE %s",
                      (f"%{declared.role('tax')}%SCRAM-SHA-256$%",)) >= 1


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
    _ensure_ddl(dbs)
    declared = sharing_consumers("tax")
    variable = f"BASELIB_CONSUMER_{declared.code('tax').upper()}_PASSWORD"
    _apply(dbs)
    monkeypatch.delenv(variable)

    with caplog.at_level(logging.WARNING, logger="baselib.sharing.consumers"):
        changes = _apply(dbs)

    assert [c.action for c in changes] == ["disable_login"]
    assert variable in caplog.text
    assert dbs.scalar("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (declared.role("tax"),)) is False
    with pytest.raises(psycopg2.OperationalError, match="not permitted to log in"):
        declared.login("tax")
    # the password back: login again, no new password needed (the fingerprint still matches)
    monkeypatch.setenv(variable, declared.passwords[declared.code("tax")])
    assert [c.action for c in _apply(dbs)] == ["enable_login"]
    declared.login("tax").close()


def test_a_consumer_removed_from_the_file_loses_its_login_and_keeps_its_history(dbs, sharing_consumers):
    _ensure_ddl(dbs)
    declared = sharing_consumers("tax", "relief")
    everyone = consumers_mod.load()
    _apply(dbs)

    changes = _apply(dbs, [c for c in everyone if c.code == declared.code("relief")])

    assert _actions(changes) == [(declared.role("tax"), "deactivate_consumer"), (declared.role("tax"), "disable_login")]
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
