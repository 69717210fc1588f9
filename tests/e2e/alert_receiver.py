"""A loopback webhook receiver for the alert tests: a real ``http.server`` on 127.0.0.1 (a free
port) in a thread, recording every POST's path and JSON body."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class AlertReceiver:
    """``with AlertReceiver() as receiver``: ``receiver.url`` to point the connection at,
    ``receiver.posts`` the ``(path, body)`` pairs received (body parsed as JSON when it is),
    ``receiver.status`` the HTTP status it answers (200 unless a test changes it)."""

    def __init__(self, status: int = 200):
        self.posts: list[tuple[str, object]] = []
        self.status = status
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with receiver._lock:
                    receiver.posts.append((self.path, body))
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> AlertReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def connection(self, path: str = "/baselib/alerts") -> str:
        """An ``AIRFLOW_CONN_BASELIB_ALERTS`` value (Airflow's JSON form) posting to ``path``."""
        return json.dumps({"conn_type": "http", "host": f"{self.url}{path}"})

    def bodies(self, kind: str | None = None) -> list:
        with self._lock:
            return [b for _, b in self.posts if kind is None or (isinstance(b, dict) and b.get("kind") == kind)]

    def wait_for(self, kind: str, timeout: float, where=None) -> list:
        """The bodies of ``kind`` (and, given ``where``, for which ``where(body)`` is true) once at
        least one arrived; [] after ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while True:
            found = [b for b in self.bodies(kind) if where is None or where(b)]
            if found or time.monotonic() >= end:
                return found
            time.sleep(0.5)
