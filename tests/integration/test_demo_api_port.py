"""The demo's e-licence API on a machine shared with other checkouts: real processes, real sockets.

A pinned port (``DEMO_API_PORT``) that something else holds fails at once with the server's own
error; unpinned, every checkout's server takes a free port and answers only its own token.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from baselib_simulators import certificates_service
from baselib_simulators.certificates import ENDPOINT, CertificateApiServer
from baselib.sources.http_api import parse_connection

ROOT = Path(__file__).resolve().parents[2]
RECORD = {"cert_identifier": "C1", "cert_name": "营业执照", "updated_at": "2026-10-31T00:00:00+00:00"}


@pytest.fixture
def records(tmp_path) -> Path:
    path = tmp_path / "records.json"
    path.write_text(json.dumps([RECORD], ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def no_pins(monkeypatch):
    monkeypatch.delenv(certificates_service.PORT_VARIABLE, raising=False)
    monkeypatch.delenv(certificates_service.CONN_VARIABLE, raising=False)


@pytest.fixture
def started():
    """Start servers with :func:`certificates_service.start`; stop them after the test."""
    pids = []

    def start(home: Path, records: Path) -> certificates_service.Started:
        server = certificates_service.start(home, home / "api.log", records)
        pids.append(server.pid)
        return server

    yield start
    for pid in pids:
        os.kill(pid, signal.SIGTERM)


def _status(uri: str, token: str) -> int:
    conn = parse_connection(uri)
    return httpx.get(f"{conn.base_url}{ENDPOINT}", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


@pytest.fixture
def foreign_listener():
    """Another program holding a loopback port (it listens, and never answers)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def test_a_taken_pinned_port_fails_at_once_with_the_servers_own_error(tmp_path, records, monkeypatch,
                                                                       foreign_listener):
    monkeypatch.setenv("DEMO_API_PORT", str(foreign_listener))
    with pytest.raises(certificates_service.ServerStartError) as err:
        certificates_service.start(tmp_path, tmp_path / "api.log", records)
    message = str(err.value)
    assert "exited with code 1 before it was ready" in message          # not a timeout
    assert f"cannot listen on 127.0.0.1:{foreign_listener} (DEMO_API_PORT={foreign_listener})" in message
    assert "Address already in use" in message and "Unset DEMO_API_PORT" in message


def test_a_taken_port_from_the_connection_variable_names_the_variable(tmp_path, records, monkeypatch,
                                                                      foreign_listener):
    monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", f"http://:tok@127.0.0.1:{foreign_listener}/")
    with pytest.raises(certificates_service.ServerStartError, match="AIRFLOW_CONN_E_LICENCE_API is set"):
        certificates_service.start(tmp_path, tmp_path / "api.log", records)


def test_a_bad_pin_is_refused(tmp_path, records, monkeypatch):
    monkeypatch.setenv("DEMO_API_PORT", "87650")
    with pytest.raises(certificates_service.ServerStartError, match="DEMO_API_PORT='87650' is not a port number"):
        certificates_service.start(tmp_path, tmp_path / "api.log", records)


def test_a_server_that_crashes_on_start_fails_with_its_own_error(tmp_path):
    missing = tmp_path / "no-records.json"
    with pytest.raises(certificates_service.ServerStartError) as err:
        certificates_service.start(tmp_path, tmp_path / "api.log", missing)
    assert "before it was ready" in str(err.value) and "No such file or directory" in str(err.value)
    assert str(missing) in str(err.value)


def test_two_checkouts_get_their_own_ports_and_tokens(tmp_path, records, started):
    first = started(tmp_path / "one", records)
    second = started(tmp_path / "two", records)
    token = {server: parse_connection(server.uri).token for server in (first, second)}
    assert parse_connection(first.uri).base_url != parse_connection(second.uri).base_url
    assert token[first] != token[second]
    assert _status(first.uri, token[first]) == 200 and _status(second.uri, token[second]) == 200
    assert _status(first.uri, token[second]) == 401 and _status(second.uri, token[first]) == 401


def test_a_pinned_free_port_is_used(tmp_path, records, started, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DEMO_API_PORT", str(port))
    server = started(tmp_path, records)
    assert parse_connection(server.uri).base_url == f"http://127.0.0.1:{port}"
    assert _status(server.uri, parse_connection(server.uri).token) == 200


def test_another_checkouts_server_is_not_taken_for_ours(tmp_path):
    with CertificateApiServer([RECORD], token="theirs") as theirs:
        ours = theirs.connection_uri().replace(":theirs@", ":ours@")
        with pytest.raises(certificates_service.ServerStartError, match="HTTP 401 .*not this demo's e-licence API"):
            certificates_service.verify(ours)
        certificates_service.verify(theirs.connection_uri())


def test_start_certificates_prints_exports_for_the_demo(tmp_path, records, monkeypatch):
    """The command demo.sh evaluates: the connection with the chosen port and the server's pid."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "plugins")}
    done = subprocess.run([sys.executable, "-m", "baselib.cli", "start-certificates", "--records", str(records)],
                          env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines())
    pid = int(exports["DEMO_API_PID"])
    try:
        uri = exports["AIRFLOW_CONN_E_LICENCE_API"].strip("'")
        assert _status(uri, parse_connection(uri).token) == 200
        assert parse_connection(uri).token == (tmp_path / "e_licence_api.token").read_text().strip()
    finally:
        os.kill(pid, signal.SIGTERM)
