"""Credentials never reach ops.load_run, the exception a step raises (Airflow logs its
traceback) or the logs: real connection strings against the real PostgreSQL server and a real
loopback HTTP server."""
from __future__ import annotations

import json
import logging
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from baselib.errors import SourceError
from baselib_simulators import population as sim
from tests.conftest import AS_OF, DAY1
from tests.integration.pipeline_helpers import catalog_entry, run


def everywhere(raised: BaseException, dbs, caplog) -> str:
    """Every text the failure left: the run records (every column: error, error history, …), the
    exception's str, repr and formatted traceback (with whatever it chains), and the captured logs."""
    stored = dbs.query("SELECT to_jsonb(r)::text FROM ops.load_run r")
    return "\n".join([str(raised), repr(raised), "".join(traceback.format_exception(raised)), caplog.text,
                      *(row[0] for row in stored)])


def fill_source(dbs):
    conn = dbs.source()
    try:
        sim.create(conn, rows=200, seed=3, as_of=AS_OF)
    finally:
        conn.close()


@pytest.mark.parametrize("password", ["p%zzS3cretValue", "p%ZZ%qqTopSecret", "half%2"],
                         ids=["invalid-escape", "two-invalid-escapes", "truncated-escape"])
def test_a_percent_password_on_the_source_appears_nowhere(dbs, population, monkeypatch, caplog, password):
    fill_source(dbs)
    user_host = dbs.uris["dept_public_security"].split("://", 1)[1].rsplit("@", 1)[-1]
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_PUBLIC_SECURITY", f"postgresql://postgres:{password}@{user_host}")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(Exception, match="invalid dsn") as raised:
        run(population, DAY1)

    assert raised.value.__cause__ is None and raised.value.__context__ is None
    text = everywhere(raised.value, dbs, caplog)
    assert password not in text
    assert "invalid dsn" in dbs.scalar("SELECT error FROM ops.load_run")


def test_a_password_the_server_refuses_appears_nowhere(dbs, population, monkeypatch, caplog):
    fill_source(dbs)
    password = "Wr0ng-Passw0rd!"
    host = dbs.uris["dept_public_security"].split("://", 1)[1].rsplit("@", 1)[-1].split("/", 1)[0]
    # a role the server does not know: it refuses the connection whatever the password
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_PUBLIC_SECURITY", f"postgresql://no_such_role:{password}@{host}/nowhere")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SourceError, match="no_such_role") as raised:
        run(population, DAY1)

    assert password not in everywhere(raised.value, dbs, caplog)


def test_a_json_form_connection_password_appears_nowhere(dbs, population, monkeypatch, caplog):
    fill_source(dbs)
    password = "J%son-Secret-42"
    host = dbs.uris["dept_public_security"].split("://", 1)[1].rsplit("@", 1)[-1].split("/", 1)[0]
    hostname, port = host.rsplit(":", 1)
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_PUBLIC_SECURITY", json.dumps({
        "conn_type": "postgres", "login": "no_such_role", "password": password, "host": hostname,
        "port": int(port), "schema": "nowhere", "extra": {"sslmode": "disable"}}))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SourceError) as raised:
        run(population, DAY1)

    assert password not in everywhere(raised.value, dbs, caplog)


def test_a_percent_password_on_the_warehouse_appears_nowhere(dbs, population, monkeypatch, caplog):
    password = "wh%zzSecret77"
    rest = dbs.warehouse_uri.split("://", 1)[1].rsplit("@", 1)[-1]
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f"postgresql://postgres:{password}@{rest}")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(Exception) as raised:
        run(population, DAY1)

    text = "\n".join([str(raised.value), repr(raised.value), "".join(traceback.format_exception(raised.value)),
                      caplog.text])
    assert "invalid dsn" in text and password not in text


class _EchoingGateway(BaseHTTPRequestHandler):
    """A gateway that refuses the request and quotes its headers back, token included."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = f"forbidden: {self.headers.get('Authorization')} is not valid here".encode()
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def echoing_gateway():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("form", ["uri", "json"])
def test_an_http_token_echoed_by_the_api_appears_nowhere(dbs, monkeypatch, caplog, echoing_gateway, form):
    token = "tok-3f9a%2Fsecret"   # %2F: the token is "tok-3f9a/secret"
    host, port = echoing_gateway
    if form == "uri":
        monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", f"http://:{token}@{host}:{port}/")
    else:
        monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", json.dumps(
            {"conn_type": "http", "host": host, "port": port, "password": "tok-3f9a/secret"}))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SourceError, match="HTTP 403") as raised:
        run(catalog_entry("base_e_certificate.certificate"), DAY1)

    text = everywhere(raised.value, dbs, caplog)
    assert "tok-3f9a/secret" not in text and token not in text and "3f9a" not in text


# redaction itself, for the forms the integration tests cannot provoke from a real server


@pytest.mark.parametrize(("message", "secret"), [
    ('connection to postgresql://etl:Pa55w0rd@db.example:5432/x failed', "Pa55w0rd"),
    ('bad uri "postgresql://etl:p%zzw0rd@db/x"', "p%zzw0rd"),
    ("host=db user=etl password=Pa55w0rd dbname=x", "Pa55w0rd"),
    ("host=db password='two words' dbname=x", "two words"),
    ('{"login": "etl", "password": "Js0nPass"}', "Js0nPass"),
    ("GET /x?access_token=QueryTok123&page=2", "QueryTok123"),
    ("headers {'Authorization': 'Bearer abc.def.ghi'}", "abc.def.ghi"),
])
def test_redact_masks_every_written_form(message, secret):
    from baselib.security.redaction import redact

    assert secret not in redact(message, environ={})
    assert "***" in redact(message, environ={})


def test_redact_masks_secrets_known_from_the_environment():
    from baselib.security.redaction import redact

    environ = {
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
        "AIRFLOW_CONN_DEPT_X": "postgresql://u:S%C3%A9cret9@h/db",
        "AIRFLOW_CONN_API": json.dumps({"conn_type": "http", "host": "h", "extra": {"token": "ExtraTok55"}}),
        "WAREHOUSE_URL": "postgresql://u:Wh-Pass-1@h/db",
    }
    message = ("s3 said: signature for wJalrXUtnFEMI/K7MDENG (wJalrXUtnFEMI%2FK7MDENG) mismatched; "
               "Sécret9 / S%C3%A9cret9; token ExtraTok55; Wh-Pass-1")
    clean = redact(message, environ=environ)
    for secret in ("wJalrXUtnFEMI", "Sécret9", "S%C3%A9cret9", "ExtraTok55", "Wh-Pass-1"):
        assert secret not in clean
    assert clean.startswith("s3 said: signature for ***")


def test_redact_keeps_ordinary_messages():
    from baselib.security.redaction import redact

    message = 'connection to server at "127.0.0.1", port 1 failed: Connection refused'
    assert redact(message, environ={"AIRFLOW_CONN_X": "postgresql://u:ab@h/db"}) == message
