"""The demo's evaluation system (考核评价系统): receives each department's indicators per period
over HTTP on loopback, as the real one would.

API (every request needs ``Authorization: Bearer <token>``, else 401; the token is checked, in
constant time, before any body is read, and a refused request's body is never read: the answer
closes the connection). A body's ``Content-Length`` must be digits (else 400); one over
``MAX_BODY_BYTES`` is refused from the header, 413, unread; ``Transfer-Encoding`` is refused, 411.
A client that stalls mid-request is dropped after ``REQUEST_TIMEOUT_SECONDS``.

- ``PUT /api/v1/indicators/{department_code}/{period_kind}/{period}`` with the JSON payload of
  :func:`baselib.evaluation.payload.build` → ``201 {"status": "created", "sha256": …}``, ``200
  {"status": "replaced", …}`` (another payload was held) or ``200 {"status": "unchanged", …}``
  (the same digest). ``422 {"error": …}`` when the body is not such a payload, or its department or
  period differ from the path: refused, nothing stored.
- ``GET /api/v1/indicators``: ``{"items": [{"department_code", "period_kind", "period", "sha256",
  "payload", "received_at": [ISO times, oldest first], "changed_at"}]}``, one entry per key, sorted.
- ``POST /api/v1/_faults`` ``{"fail_next": N, "status": 503, "retry_after": seconds?}``: the next N
  PUTs answer that status (a 5xx to test retries, a 4xx such as 422 or 403 to test a refusal);
  ``{"fail_next": 0}`` clears it. Answers the fault now in force.

Storage: one JSON file (default ``<Airflow home>/evaluation_service.json``, or
``BASELIB_EVALUATION_STORE``), rewritten through a temporary file and ``os.replace`` after each
change, so a crash leaves the previous or the new state, never half of one. Restarting the server on
the same file keeps what it holds; a file that is not such a store (unreadable, not its JSON) stops
the server from starting (:class:`StoreError`, naming the file, which is left as it is).

Like the e-licence API (:mod:`baselib_simulators.certificates_service`): the token is random per
checkout, kept in the git-ignored Airflow home (``evaluation_api.token``); the port is a free one,
unless ``DEMO_EVALUATION_PORT`` pins it or ``AIRFLOW_CONN_EVALUATION_API`` is already set (its host,
port and token are then used). :func:`start` runs :func:`serve` in its own process (``python -m
baselib.cli evaluation serve --ready-file …``) and returns once it answers this checkout's token;
:func:`stop` ends it.
"""
from __future__ import annotations

import datetime as dt
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from baselib.settings import PROJECT_ROOT
from baselib_simulators.certificates_service import Api, ServerStartError, listen_uri, spawn

CONN_ID = "evaluation_api"
PORT_VARIABLE = "DEMO_EVALUATION_PORT"
STORE_VARIABLE = "BASELIB_EVALUATION_STORE"
ENDPOINT = "/api/v1/indicators"
FAULTS_ENDPOINT = "/api/v1/_faults"
START_TIMEOUT_SECONDS = 60.0
MAX_BODY_BYTES = 10 * 1024 * 1024
REQUEST_TIMEOUT_SECONDS = 30.0
_DIGITS = re.compile(r"[0-9]+")
API = Api(CONN_ID, "evaluation system", ENDPOINT, "key", Path("evaluation_service.json"), PORT_VARIABLE,
          "indicator sets")
_KEY_PATH = re.compile(r"^/api/v1/indicators/([^/]+)/([^/]+)/([^/]+)/?$")
_PAYLOAD_KEYS = {"department", "period", "score", "grade", "indicators", "flags"}


def default_store(airflow_home: Path) -> Path:
    """Where the server keeps what it received: ``BASELIB_EVALUATION_STORE`` or
    ``<airflow_home>/evaluation_service.json``."""
    return Path(os.environ.get(STORE_VARIABLE) or airflow_home / "evaluation_service.json")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def validate(payload, department_code: str, period_kind: str, period: str) -> str | None:
    """Why ``payload`` is not an acceptable indicator set for the path's key (None: acceptable)."""
    from baselib.evaluation import periods

    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    missing = _PAYLOAD_KEYS - payload.keys()
    if missing:
        return f"the payload lacks {', '.join(sorted(missing))}"
    department, when = payload["department"], payload["period"]
    if not isinstance(department, dict) or not isinstance(department.get("code"), str) \
            or not isinstance(department.get("name"), str):
        return "department must be {\"code\": text, \"name\": text}"
    if not isinstance(when, dict) or not all(isinstance(when.get(k), str) for k in ("kind", "label", "start", "end")):
        return "period must be {\"kind\", \"label\", \"start\", \"end\"} (text)"
    if not isinstance(payload["indicators"], dict) or not isinstance(payload["flags"], dict):
        return "indicators and flags must be JSON objects"
    score = payload["score"]
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 100):
        return f"score must be a number 0..100 or null, got {score!r}"
    if payload["grade"] is not None and not isinstance(payload["grade"], str):
        return "grade must be text or null"
    try:
        expected = periods.parse(when["kind"], when["label"])
    except ValueError as exc:
        return f"period: {exc}"
    if (when["start"], when["end"]) != (expected.start.isoformat(), expected.end.isoformat()):
        return (f"period {expected.label} runs [{expected.start}, {expected.end}), "
                f"not [{when['start']}, {when['end']})")
    if (department["code"], when["kind"], when["label"]) != (department_code, period_kind, period):
        return (f"the payload is for {department['code']}/{when['kind']}/{when['label']}, "
                f"the path names {department_code}/{period_kind}/{period}")
    return None


class StoreError(ServerStartError):
    """The store file exists but is not the server's store (unreadable, or not its JSON)."""


class Store:
    """The received indicator sets, one per ``department/kind/period`` key, in a JSON file.
    Raises :class:`StoreError` naming the file when it exists and cannot be read as a store (the
    file is not touched)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict] = {}
        if path.exists():
            try:
                items = json.loads(path.read_text(encoding="utf-8"))["items"]
                if not isinstance(items, list):
                    raise TypeError("items is not a list")
                entries = {e["key"]: e for e in items}
                for name, e in entries.items():
                    if not isinstance(name, str) or not isinstance(e.get("received_at"), list) \
                            or not isinstance(e.get("sha256"), str):
                        raise TypeError(f"entry {name!r} lacks its sha256 or received_at")
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise StoreError(f"{path}: not an evaluation system store ({type(exc).__name__}: {exc}); "
                                 f"move it away (or set {STORE_VARIABLE} to another file) and start again") from None
            self._entries = entries

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps({"items": [self._entries[k] for k in sorted(self._entries)]},
                                      ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(partial, self.path)

    def put(self, key: tuple[str, str, str], payload: dict, sha256: str) -> str:
        """Store ``payload`` under ``key``; ``created``, ``replaced`` or ``unchanged``."""
        name = "/".join(key)
        with self._lock:
            now = _now()
            entry = self._entries.get(name)
            if entry is None:
                outcome = "created"
                entry = {"key": name, "department_code": key[0], "period_kind": key[1], "period": key[2],
                         "received_at": [], "changed_at": now}
            elif entry["sha256"] == sha256:
                outcome = "unchanged"
            else:
                outcome = "replaced"
                entry = {**entry, "changed_at": now}
            entry = {**entry, "sha256": sha256, "payload": payload, "received_at": [*entry["received_at"], now]}
            self._entries = {**self._entries, name: entry}
            self._save()
            return outcome

    def items(self) -> list[dict]:
        with self._lock:
            return [dict(self._entries[k]) for k in sorted(self._entries)]


class EvaluationServer:
    """The evaluation system on a real loopback socket (``ThreadingHTTPServer`` in a daemon thread)."""

    def __init__(self, token: str, store: Path, host: str = "127.0.0.1", port: int = 0):
        self.token = token
        self.store = Store(store)
        self.host, self.port = host, port
        self._faults = {"fail_next": 0, "status": 503, "retry_after": None}
        self._faults_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def take_fault(self) -> dict | None:
        """The fault the next PUT answers (and one fewer to come), or None."""
        with self._faults_lock:
            if self._faults["fail_next"] <= 0:
                return None
            self._faults["fail_next"] -= 1
            return dict(self._faults)

    def set_faults(self, fail_next: int, status: int, retry_after: float | None) -> dict:
        with self._faults_lock:
            self._faults = {"fail_next": fail_next, "status": status, "retry_after": retry_after}
            return dict(self._faults)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def connection_uri(self) -> str:
        """``http://:<token>@host:port/``: the Airflow connection ``evaluation_api``."""
        host, port = self._httpd.server_address[:2]
        return f"http://:{quote(self.token, safe='')}@{host}:{port}/"

    def start(self) -> EvaluationServer:
        self._httpd = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        self._httpd.daemon_threads = True
        httpd = self._httpd
        self._thread = threading.Thread(target=lambda: httpd.serve_forever(poll_interval=0.05),
                                        name="evaluation-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self._httpd, self._thread = None, None


def _handler_for(server: EvaluationServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = REQUEST_TIMEOUT_SECONDS   # a client that stalls mid-request is dropped

        def log_message(self, fmt, *args):  # one line per request on stdout, never the headers
            print(f"{self.address_string()} {fmt % args}", flush=True)

        def _send(self, status: int, body: dict, headers: dict | None = None, close: bool = False) -> None:
            """Answer; ``close``: the request's body (if any) was not read, so the connection ends."""
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self, status: int, error: str, headers: dict | None = None) -> None:
            """Answer without reading the body, and close the connection (its unread bytes must not
            be taken for the next request)."""
            self._send(status, {"error": error}, headers, close=True)

        def _authorised(self) -> bool:
            """Checks the bearer token (constant time) BEFORE any body is read; a refused request is
            answered 401 and its connection closed, the body never read."""
            # header values arrive decoded as ISO-8859-1: back to their bytes, compared as bytes
            given = self.headers.get("Authorization", "").encode("latin-1", "replace")
            if hmac.compare_digest(given, f"Bearer {server.token}".encode()):
                return True
            self._refuse(401, "missing or wrong token", {"WWW-Authenticate": "Bearer"})
            return False

        def _length(self) -> int | None:
            """The declared body length, checked strictly from the headers (nothing read yet):
            answers 411 (Transfer-Encoding), 400 (not digits, or several different Content-Length)
            or 413 (over MAX_BODY_BYTES) and returns None; else the length (0 without a header)."""
            if self.headers.get("Transfer-Encoding") is not None:
                self._refuse(411, "Transfer-Encoding is not supported: send a Content-Length")
                return None
            values = {v.strip() for v in self.headers.get_all("Content-Length") or []}
            if not values:
                return 0
            value = values.pop()
            if values or not _DIGITS.fullmatch(value):
                self._refuse(400, "Content-Length must be one non-negative decimal number")
                return None
            length = int(value)
            if length > MAX_BODY_BYTES:
                self._refuse(413, f"the body ({length} bytes) is over {MAX_BODY_BYTES} bytes")
                return None
            return length

        def _body(self) -> bytes | None:
            """The request's body (after :meth:`_authorised`), or None when it was refused (answered)."""
            length = self._length()
            if length is None:
                return None
            return self.rfile.read(length) if length else b""

        def _json(self):
            """``(value, problem)``; ``(None, None)`` when the body was refused (already answered)."""
            body = self._body()
            if body is None:
                return None, None
            try:
                return json.loads(body.decode("utf-8")), None
            except (UnicodeDecodeError, ValueError) as exc:
                return None, f"the body is not JSON: {exc}"

        def _has_body(self) -> bool:
            return bool(self.headers.get("Transfer-Encoding")) or \
                any(v.strip() not in ("", "0") for v in self.headers.get_all("Content-Length") or [])

        def do_GET(self):
            path = urlsplit(self.path).path.rstrip("/")
            if path != ENDPOINT:
                return self._send(404, {"error": f"no such resource: {path}"}, close=self._has_body())
            if self._authorised():
                self._send(200, {"items": server.store.items()}, close=self._has_body())

        def do_PUT(self):
            match = _KEY_PATH.match(urlsplit(self.path).path)
            if not match:
                return self._refuse(404, "PUT /api/v1/indicators/{department_code}/{period_kind}/{period}")
            if not self._authorised():
                return
            if self._length() is None:   # refused from its headers (answered)
                return
            payload, problem = self._json()
            fault = server.take_fault()
            if fault is not None:
                headers = {} if fault["retry_after"] is None else {"Retry-After": f"{fault['retry_after']:g}"}
                return self._send(fault["status"], {"error": f"injected fault: HTTP {fault['status']}"}, headers)
            key = tuple(unquote(part) for part in match.groups())
            from baselib.evaluation import payload as payloads

            problem = problem or validate(payload, *key)
            if problem:
                return self._send(422, {"error": problem})
            sha256 = payloads.digest(payload)
            outcome = server.store.put(key, payload, sha256)
            self._send(201 if outcome == "created" else 200, {"status": outcome, "sha256": sha256})

        def do_POST(self):
            if urlsplit(self.path).path.rstrip("/") != FAULTS_ENDPOINT:
                return self._refuse(404, "no such resource")
            if not self._authorised():
                return
            if self._length() is None:   # refused from its headers (answered)
                return
            body, problem = self._json()
            if problem is None:
                try:
                    fail_next = int(body.get("fail_next", 0))
                    status = int(body.get("status", 503))
                    retry_after = None if body.get("retry_after") is None else float(body["retry_after"])
                    if fail_next < 0 or not 400 <= status <= 599:
                        raise ValueError("fail_next >= 0 and a status 400..599")
                except (AttributeError, TypeError, ValueError) as exc:
                    problem = f"expected {{\"fail_next\": N, \"status\": 4xx|5xx, \"retry_after\": s}}: {exc}"
            if problem:
                return self._send(422, {"error": problem})
            self._send(200, server.set_faults(fail_next, status, retry_after))

    return Handler


# the process ------------------------------------------------------------------------------------

def serve(airflow_home: Path, ready_file: Path | None = None, port: int | None = None,
          store: Path | None = None) -> None:
    """Serve at :func:`listen_uri` (``port``, when given and not 0, wins over the pinned one) until
    SIGTERM or SIGINT. Once listening, writes the connection URI (with the real port and the token)
    to ``ready_file`` (mode 0600). Raises :class:`ServerStartError` when ``port`` is not 0..65535 or
    the address cannot be bound, :class:`StoreError` (one) when ``store`` exists and is not a store;
    then nothing is written (no ready file, the store left as it is)."""
    if port is not None and not 0 <= port <= 65535:
        raise ServerStartError(f"--port {port}: a TCP port is 0..65535 (0: a free one)")
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    uri = urlsplit(listen_uri(airflow_home, API))
    try:
        bind_port = port or uri.port or 0
    except ValueError as exc:   # a pinned port out of range
        raise ServerStartError(f"the evaluation system's address has a bad port: {exc}. "
                               f"Pin a port 1..65535 with {PORT_VARIABLE}, or unset it") from None
    server = EvaluationServer(unquote(uri.password or ""), store or default_store(airflow_home),
                              host=uri.hostname or "127.0.0.1", port=bind_port)
    try:
        server.start()
    except (OSError, OverflowError) as exc:
        raise ServerStartError(f"the evaluation system cannot listen on {uri.hostname}:{bind_port}: {exc}. "
                               f"Unset {PORT_VARIABLE} to use a free port, or pin another one") from exc
    try:
        print(f"evaluation system serving at {server.url}, {len(server.store.items())} indicator set(s) "
              f"held in {server.store.path}", flush=True)
        if ready_file is not None:
            partial = ready_file.with_name(ready_file.name + ".partial")
            partial.touch(mode=0o600)
            partial.write_text(server.connection_uri() + "\n", encoding="utf-8")
            partial.replace(ready_file)
        stopped.wait()
    finally:
        server.stop()


def _airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or PROJECT_ROOT / ".airflow")


def command_serve(args) -> None:
    """``evaluation serve [--ready-file F] [--port P]``."""
    try:
        serve(_airflow_home(), Path(args.ready_file) if args.ready_file else None, args.port or None)
    except ServerStartError as exc:
        sys.exit(f"error: {exc}")


@dataclass(frozen=True)
class Running:
    """A server process started by :func:`start`: its pid and connection URI (with the token)."""

    pid: int
    uri: str


_children: dict[int, subprocess.Popen] = {}


def start(airflow_home: Path, log_file: Path | None = None, timeout_seconds: float = START_TIMEOUT_SECONDS,
          store: Path | None = None) -> Running:
    """Run :func:`serve` in a new process (output to ``log_file``, default
    ``<airflow_home>/evaluation-api.log``) and return once it answers this checkout's token.
    ``store`` sets ``BASELIB_EVALUATION_STORE`` for it. Raises :class:`ServerStartError` with the
    server's own output when it exits first (a pinned port taken) or is not ready in time."""
    log_file = log_file or airflow_home / "evaluation-api.log"
    extra = {STORE_VARIABLE: str(store)} if store is not None else None

    def check(text: str) -> str:
        uri = text.strip()
        verify(uri)
        return uri

    process, uri = spawn([sys.executable, "-m", "baselib.cli", "evaluation", "serve"], airflow_home, log_file,
                         "evaluation system", timeout_seconds, check, extra)
    _children[process.pid] = process
    return Running(process.pid, uri)


def stop(running: Running | int, timeout_seconds: float = 10.0) -> bool:
    """End the server process ``running`` (or that pid) with SIGTERM (SIGKILL after
    ``timeout_seconds``). False when it was not running."""
    pid = running if isinstance(running, int) else running.pid
    process = _children.pop(pid, None)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if process is not None:
        try:
            process.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return True
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


def verify(uri: str) -> None:
    """Check that the server at ``uri`` is this demo's evaluation system answering the URI's token.
    Raises :class:`ServerStartError` saying what answered instead."""
    import httpx

    from baselib.sources.http_api import parse_connection

    conn = parse_connection(uri)
    try:
        response = httpx.get(f"{conn.base_url}{ENDPOINT}", timeout=10,
                             headers={"Authorization": f"Bearer {conn.token}"})
    except httpx.HTTPError as exc:
        raise ServerStartError(f"the evaluation system at {conn.base_url} does not answer: {exc}") from exc
    if response.status_code != 200 or "items" not in response.text:
        raise ServerStartError(f"{conn.base_url} answers HTTP {response.status_code} to this checkout's token: "
                               f"it is not this demo's evaluation system")

