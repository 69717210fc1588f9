"""The demo's e-licence system: simulated certificates served over HTTP on loopback.

``simulate`` writes the records to ``data/simulated/``. ``start`` runs ``serve`` in its own
process and returns once that server answers this checkout's token: several checkouts can run
the demo on one machine.

- Port: a free one chosen by the system, unless ``DEMO_API_PORT`` pins one (or
  ``AIRFLOW_CONN_E_LICENCE_API`` is already set, whose host, port and token are then used). A
  pinned port that is taken fails at once with the server's own error, never silently reaching
  another checkout's server.
- Token: random per checkout, kept in the git-ignored Airflow home, never in code.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from baselib.settings import PROJECT_ROOT

CONN_ID = "e_licence_api"
CONN_VARIABLE = f"AIRFLOW_CONN_{CONN_ID.upper()}"
PORT_VARIABLE = "DEMO_API_PORT"
RECORDS_FILE = PROJECT_ROOT / "data" / "simulated" / "e_licence_certificates.json"
START_TIMEOUT_SECONDS = 60.0   # a server that is neither listening nor dead by then is stopped


class ServerStartError(RuntimeError):
    """The demo's API server did not start, or something else answers on its address."""


@dataclass(frozen=True)
class Started:
    """A server process started by :func:`start`: its pid and its connection URI (with the token)."""

    pid: int
    uri: str


def checkout_token(airflow_home: Path) -> str:
    """This checkout's bearer token, created (random, mode 0600) on first use."""
    token_file = airflow_home / f"{CONN_ID}.token"
    if not token_file.is_file():
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text(secrets.token_urlsafe(24), encoding="utf-8")
        token_file.chmod(0o600)
    return token_file.read_text(encoding="utf-8").strip()


def listen_uri(airflow_home: Path) -> str:
    """Where ``serve`` listens: ``AIRFLOW_CONN_E_LICENCE_API`` if set, else 127.0.0.1 on port
    ``DEMO_API_PORT`` (0, any free port, when unset) with this checkout's token."""
    if os.environ.get(CONN_VARIABLE):
        return os.environ[CONN_VARIABLE]
    port = os.environ.get(PORT_VARIABLE) or "0"
    if not port.isdigit() or int(port) > 65535:
        raise ServerStartError(f"{PORT_VARIABLE}={port!r} is not a port number (0-65535)")
    return f"http://:{quote(checkout_token(airflow_home), safe='')}@127.0.0.1:{int(port)}/"


def simulate(n: int, seed: int, as_of: dt.datetime, citizen_ids: list[str], credit_codes: list[str]) -> str:
    """Generate the certificates and store them for ``serve``. Returns a one-line summary."""
    from baselib_simulators import certificates

    records, manifest = certificates.generate(n, seed, as_of, citizen_ids, credit_codes)
    RECORDS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RECORDS_FILE.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    rates = {kind: manifest.match_rate(kind) for kind in manifest.clean_holders}
    return (f"{len(records)} certificates in {RECORDS_FILE.relative_to(PROJECT_ROOT)}; injected: "
            f"{manifest.defect_counts}; expected holder match rates: {rates}")


def serve(airflow_home: Path, ready_file: Path | None = None, records_file: Path = RECORDS_FILE) -> None:
    """Serve ``records_file`` at :func:`listen_uri` until SIGTERM or SIGINT. Once listening, writes
    the connection URI (with the real port) to ``ready_file`` (mode 0600). Raises
    :class:`ServerStartError` when the address cannot be bound, naming it and why."""
    from baselib_simulators.certificates import CertificateApiServer

    uri = urlsplit(listen_uri(airflow_home))
    records = json.loads(records_file.read_text(encoding="utf-8"))
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    server = CertificateApiServer(records, token=unquote(uri.password or ""), host=uri.hostname, port=uri.port or 0)
    try:
        server.start()
    except OSError as exc:
        pinned = f"{CONN_VARIABLE} is set" if os.environ.get(CONN_VARIABLE) else f"{PORT_VARIABLE}={uri.port}"
        raise ServerStartError(f"the e-licence API cannot listen on {uri.hostname}:{uri.port} ({pinned}): {exc}. "
                               f"Unset {PORT_VARIABLE} to use a free port, or pin another one") from exc
    try:
        print(f"e-licence API serving {len(records)} certificates at {server.url}", flush=True)
        if ready_file is not None:
            partial = ready_file.with_name(ready_file.name + ".partial")
            partial.touch(mode=0o600)
            partial.write_text(server.connection_uri(), encoding="utf-8")
            partial.replace(ready_file)
        stopped.wait()
    finally:
        server.stop()


def start(airflow_home: Path, log_file: Path, records_file: Path = RECORDS_FILE,
          timeout_seconds: float = START_TIMEOUT_SECONDS) -> Started:
    """Run :func:`serve` in a new process (output to ``log_file``) and return once it answers
    this checkout's token. Raises :class:`ServerStartError` with the server's own output when it
    exits first (e.g. its port is taken), and when it is not ready after ``timeout_seconds``."""
    ready = log_file.with_name(log_file.name + ".ready")
    ready.unlink(missing_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT / "plugins"), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "baselib.cli", "serve-certificates", "--ready-file", str(ready),
               "--records", str(records_file)]
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    deadline = time.monotonic() + timeout_seconds
    try:
        while not ready.is_file():
            if process.poll() is not None:
                raise ServerStartError(f"the e-licence API exited with code {process.returncode} before it was "
                                       f"ready:\n{_output(log_file)}")
            if time.monotonic() > deadline:
                raise ServerStartError(f"the e-licence API was not ready after {timeout_seconds:g} s:\n"
                                       f"{_output(log_file)}")
            time.sleep(0.05)
        uri = ready.read_text(encoding="utf-8")
        ready.unlink()
        verify(uri)
    except BaseException:
        process.terminate()
        process.wait()
        raise
    return Started(process.pid, uri)


def verify(uri: str) -> None:
    """Check that the server at ``uri`` is this demo's: it answers a page to the URI's token.
    Raises :class:`ServerStartError` saying what answered instead."""
    import httpx

    from baselib_simulators.certificates import ENDPOINT
    from baselib.sources.http_api import parse_connection

    conn = parse_connection(uri)
    try:
        response = httpx.get(f"{conn.base_url}{ENDPOINT}", params={"page_size": 1}, timeout=10,
                             headers={"Authorization": f"Bearer {conn.token}"})
    except httpx.HTTPError as exc:
        raise ServerStartError(f"the e-licence API at {conn.base_url} does not answer: {exc}") from exc
    if response.status_code != 200 or "items" not in response.text:
        raise ServerStartError(f"{conn.base_url} answers HTTP {response.status_code} to this checkout's token: "
                               f"it is not this demo's e-licence API")


def _output(log_file: Path) -> str:
    return log_file.read_text(encoding="utf-8", errors="replace").strip() or "(no output)"
