"""The demo's e-licence system: simulated certificates served over HTTP on loopback.

``simulate`` writes the records to ``data/simulated/``; ``serve`` runs the API on the port and
with the bearer token of the ``e_licence_api`` connection. The token is random per checkout,
kept in the git-ignored Airflow home, never in code.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

from baselib.settings import PROJECT_ROOT

CONN_ID = "e_licence_api"
RECORDS_FILE = PROJECT_ROOT / "data" / "simulated" / "e_licence_certificates.json"
DEFAULT_PORT = 8765


def connection_uri(airflow_home: Path) -> str:
    token_file = airflow_home / f"{CONN_ID}.token"
    if not token_file.is_file():
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text(secrets.token_urlsafe(24), encoding="utf-8")
        token_file.chmod(0o600)
    port = int(os.environ.get("DEMO_API_PORT", DEFAULT_PORT))
    return f"http://:{token_file.read_text(encoding='utf-8').strip()}@127.0.0.1:{port}/"


def simulate(n: int, seed: int, as_of: dt.datetime, citizen_ids: list[str], credit_codes: list[str]) -> str:
    """Generate the certificates and store them for ``serve``. Returns a one-line summary."""
    from baselib.simulators import certificates

    records, manifest = certificates.generate(n, seed, as_of, citizen_ids, credit_codes)
    RECORDS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RECORDS_FILE.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    rates = {kind: manifest.match_rate(kind) for kind in manifest.clean_holders}
    return (f"{len(records)} certificates in {RECORDS_FILE.relative_to(PROJECT_ROOT)}; injected: "
            f"{manifest.defect_counts}; expected holder match rates: {rates}")


def serve(airflow_home: Path) -> None:
    """Serve until SIGTERM or SIGINT."""
    from baselib.simulators.certificates import CertificateApiServer

    uri = urlsplit(os.environ.get(f"AIRFLOW_CONN_{CONN_ID.upper()}") or connection_uri(airflow_home))
    records = json.loads(RECORDS_FILE.read_text(encoding="utf-8"))
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    server = CertificateApiServer(records, token=unquote(uri.password or ""), host=uri.hostname, port=uri.port).start()
    print(f"e-licence API serving {len(records)} certificates at {server.url}", flush=True)
    try:
        stopped.wait()
    finally:
        server.stop()
