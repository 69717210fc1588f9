"""The demo's e-licence system (and the court's list API): simulated records served over HTTP on loopback.

``simulate`` writes the records to ``data/simulated/``. ``start`` runs ``serve`` in its own
process and returns once that server answers this checkout's token: several checkouts can run
the demo on one machine. One process can serve several :class:`Api` (the e-licence API and the
court's dishonest-debtor API, :data:`APIS`), each on its own port with its own token.

- Port: a free one chosen by the system, unless ``DEMO_API_PORT`` pins one (the court API:
  ``DEMO_COURT_API_PORT``), or ``AIRFLOW_CONN_E_LICENCE_API`` (``AIRFLOW_CONN_COURT_API``) is
  already set, whose host, port and token are then used. A
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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from baselib.settings import PROJECT_ROOT

CONN_ID = "e_licence_api"
CONN_VARIABLE = f"AIRFLOW_CONN_{CONN_ID.upper()}"
PORT_VARIABLE = "DEMO_API_PORT"
RECORDS_FILE = PROJECT_ROOT / "data" / "simulated" / "e_licence_certificates.json"
START_TIMEOUT_SECONDS = 60.0   # a server that is neither listening nor dead by then is stopped


@dataclass(frozen=True)
class Api:
    """A simulated list API the demo serves: its Airflow connection, endpoint, the records' key
    field, default records file and port-pinning variable."""

    conn_id: str
    label: str
    endpoint: str
    key: str
    records_file: Path
    port_variable: str
    noun: str

    @property
    def conn_variable(self) -> str:
        return f"AIRFLOW_CONN_{self.conn_id.upper()}"


E_LICENCE = Api(CONN_ID, "e-licence API", "/api/v1/certificates", "cert_identifier", RECORDS_FILE, PORT_VARIABLE,
                "certificates")
COURT = Api("court_api", "court API", "/api/v1/dishonest-debtors", "case_number",
            PROJECT_ROOT / "data" / "simulated" / "court_dishonest_debtors.json", "DEMO_COURT_API_PORT",
            "dishonest debtors")
APIS = (E_LICENCE, COURT)


class ServerStartError(RuntimeError):
    """The demo's API server did not start, or something else answers on its address."""


@dataclass(frozen=True)
class Started:
    """A server process started by :func:`start`: its pid and its connection URI (with the token)."""

    pid: int
    uri: str                                            # the first API's (the e-licence API's by default)
    uris: dict[str, str] = field(default_factory=dict, hash=False, compare=False)  # conn id -> URI, every API


def checkout_token(airflow_home: Path, api: Api = E_LICENCE) -> str:
    """This checkout's bearer token for ``api``, created (random, mode 0600) on first use."""
    token_file = airflow_home / f"{api.conn_id}.token"
    if not token_file.is_file():
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text(secrets.token_urlsafe(24), encoding="utf-8")
        token_file.chmod(0o600)
    return token_file.read_text(encoding="utf-8").strip()


def listen_uri(airflow_home: Path, api: Api = E_LICENCE) -> str:
    """Where ``serve`` listens for ``api``: its connection variable (``AIRFLOW_CONN_E_LICENCE_API``)
    if set, else 127.0.0.1 on its pinned port (``DEMO_API_PORT``; 0, any free port, when unset)
    with this checkout's token."""
    if os.environ.get(api.conn_variable):
        return os.environ[api.conn_variable]
    port = os.environ.get(api.port_variable) or "0"
    if not port.isdigit() or int(port) > 65535:
        raise ServerStartError(f"{api.port_variable}={port!r} is not a port number (0-65535)")
    return f"http://:{quote(checkout_token(airflow_home, api), safe='')}@127.0.0.1:{int(port)}/"


def simulate(n: int, seed: int, as_of: dt.datetime, citizen_ids: list[str], credit_codes: list[str]) -> str:
    """Generate the certificates and store them for ``serve``. Returns a one-line summary."""
    from baselib_simulators import certificates

    records, manifest = certificates.generate(n, seed, as_of, citizen_ids, credit_codes)
    RECORDS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RECORDS_FILE.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    rates = {kind: manifest.match_rate(kind) for kind in manifest.clean_holders}
    return (f"{len(records)} certificates in {RECORDS_FILE.relative_to(PROJECT_ROOT)}; injected: "
            f"{manifest.defect_counts}; expected holder match rates: {rates}")


def serve(airflow_home: Path, ready_file: Path | None = None, records_file: Path = RECORDS_FILE,
          apis: list[tuple[Api, Path]] | None = None) -> None:
    """Serve each ``(api, records file)`` of ``apis`` (default: the e-licence API with
    ``records_file``) at its :func:`listen_uri` until SIGTERM or SIGINT. Once all listen, writes
    one line ``<conn id> <connection URI with the real port>`` per API to ``ready_file`` (mode
    0600). Raises :class:`ServerStartError` when an address cannot be bound, naming it and why."""
    from baselib_simulators.certificates import CertificateApiServer

    apis = apis or [(E_LICENCE, records_file)]
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    servers: list[tuple[Api, CertificateApiServer, int]] = []
    try:
        for api, path in apis:
            uri = urlsplit(listen_uri(airflow_home, api))
            records = json.loads(path.read_text(encoding="utf-8"))
            server = CertificateApiServer(records, token=unquote(uri.password or ""), host=uri.hostname,
                                          port=uri.port or 0, endpoint=api.endpoint, key=api.key)
            try:
                server.start()
            except OSError as exc:
                pinned = (f"{api.conn_variable} is set" if os.environ.get(api.conn_variable)
                          else f"{api.port_variable}={uri.port}")
                raise ServerStartError(f"the {api.label} cannot listen on {uri.hostname}:{uri.port} ({pinned}): "
                                       f"{exc}. Unset {api.port_variable} to use a free port, or pin another one") from exc
            servers.append((api, server, len(records)))
        for api, server, count in servers:
            print(f"{api.label} serving {count} {api.noun} at {server.url}", flush=True)
        if ready_file is not None:
            partial = ready_file.with_name(ready_file.name + ".partial")
            partial.touch(mode=0o600)
            partial.write_text("".join(f"{api.conn_id} {server.connection_uri()}\n" for api, server, _ in servers),
                               encoding="utf-8")
            partial.replace(ready_file)
        stopped.wait()
    finally:
        for _, server, _ in servers:
            server.stop()


def spawn(command: list[str], airflow_home: Path, log_file: Path, label: str, timeout_seconds: float,
          check, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, object]:
    """Run ``command`` (a ``python -m baselib.cli …`` server taking ``--ready-file``, appended here) in
    a new session with its output in ``log_file``; wait until it writes the ready file, then return
    the process and ``check(<ready file text>)``. The server is stopped, and :class:`ServerStartError`
    raised with its own output, when it exits first, is not ready after ``timeout_seconds``, or
    ``check`` raises."""
    ready = log_file.with_name(log_file.name + ".ready")
    ready.unlink(missing_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home), **(extra_env or {}),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT / "plugins"), os.environ.get("PYTHONPATH")]))}
    with log_file.open("wb") as log:
        process = subprocess.Popen([*command, "--ready-file", str(ready)], stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout_seconds
    try:
        while not ready.is_file():
            if process.poll() is not None:
                raise ServerStartError(f"the {label} exited with code {process.returncode} before it was "
                                       f"ready:\n{_output(log_file)}")
            if time.monotonic() > deadline:
                raise ServerStartError(f"the {label} was not ready after {timeout_seconds:g} s:\n"
                                       f"{_output(log_file)}")
            time.sleep(0.05)
        text = ready.read_text(encoding="utf-8")
        ready.unlink()
        return process, check(text)
    except BaseException:
        process.terminate()
        process.wait()
        raise


def start(airflow_home: Path, log_file: Path, records_file: Path = RECORDS_FILE,
          timeout_seconds: float = START_TIMEOUT_SECONDS, apis: list[tuple[Api, Path]] | None = None) -> Started:
    """Run :func:`serve` in a new process (output to ``log_file``) for ``apis`` (default: the
    e-licence API with ``records_file``) and return once each answers this checkout's token.
    Raises :class:`ServerStartError` with the server's own output when it exits first (e.g. a
    port is taken), and when it is not ready after ``timeout_seconds``."""
    apis = apis or [(E_LICENCE, records_file)]
    label = " and ".join(api.label for api, _ in apis)
    command = [sys.executable, "-m", "baselib.cli", "serve-certificates"]
    command += [arg for api, path in apis for arg in ("--api", f"{api.conn_id}={path}")]

    def check(text: str) -> dict[str, str]:
        uris = dict(line.split(" ", 1) for line in text.splitlines())
        for api, _ in apis:
            verify(uris[api.conn_id], api)
        return uris

    process, uris = spawn(command, airflow_home, log_file, label, timeout_seconds, check)
    return Started(process.pid, uris[apis[0][0].conn_id], uris)


def verify(uri: str, api: Api = E_LICENCE) -> None:
    """Check that the server at ``uri`` is this demo's ``api``: it answers a page to the URI's
    token. Raises :class:`ServerStartError` saying what answered instead."""
    import httpx

    from baselib.sources.http_api import parse_connection

    conn = parse_connection(uri)
    try:
        response = httpx.get(f"{conn.base_url}{api.endpoint}", params={"page_size": 1}, timeout=10,
                             headers={"Authorization": f"Bearer {conn.token}"})
    except httpx.HTTPError as exc:
        raise ServerStartError(f"the {api.label} at {conn.base_url} does not answer: {exc}") from exc
    if response.status_code != 200 or "items" not in response.text:
        raise ServerStartError(f"{conn.base_url} answers HTTP {response.status_code} to this checkout's token: "
                               f"it is not this demo's {api.label}")


def _output(log_file: Path) -> str:
    return log_file.read_text(encoding="utf-8", errors="replace").strip() or "(no output)"
