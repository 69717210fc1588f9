"""Review of issue 13 (deployment), security: Airflow-level checks of ``make up`` (scripts/up.sh).
Each test names a defect and fails until it is fixed."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parents[2]
BROKER_PASSWORD = "Br0kerPassw0rd-7f3a9c"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_up_does_not_print_the_celery_broker_password(tmp_path):
    """Defect: scripts/up.sh prints the Celery broker URL as given — "No Redis answers at
    $broker" (scripts/up.sh:31) and "== Starting …, Celery worker (broker
    $AIRFLOW__CELERY__BROKER_URL)" (scripts/up.sh:69, printed at line 70) — so a broker with a password
    (redis://:PASSWORD@host:6379/2, the usual form) has its password on the terminal and in any CI
    or shell log of `make up`. Celery itself shows such a URL as redis://:**@host.

    The run stops early on purpose: the metadata database it is given does not exist, so
    `airflow db migrate` fails and up.sh exits before starting anything (nothing to stop)."""
    home = tmp_path / "airflow-home"
    env = {
        "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"),
        "AIRFLOW_HOME": str(home),
        # every connection already chosen: `baselib.cli env` creates no database and starts no server
        "WAREHOUSE_URL": "postgresql://review@127.0.0.1:1/review_unused",
        **{f"AIRFLOW_CONN_{c}": "postgresql://review@127.0.0.1:1/review_unused" for c in (
            "DEPT_HUMAN_RESOURCES", "DEPT_MARKET_REGULATION", "DEPT_PUBLIC_SECURITY")},
        **{f"AIRFLOW_CONN_{c}": "http://127.0.0.1:1" for c in ("COURT_API", "E_LICENCE_API")},
        # a metadata database that does not exist: up.sh stops at `airflow db migrate`
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://postgres@127.0.0.1:5432/review_no_such_database",
        # a broker that does not answer (nothing listens on the port): up.sh falls back to LocalExecutor
        # and says so, quoting the URL
        "AIRFLOW__CELERY__BROKER_URL": f"redis://:{BROKER_PASSWORD}@127.0.0.1:{_closed_port()}/2",
        "AIRFLOW__API__PORT": "1",  # no port probing
    }
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "up.sh")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # only the group this test started
            proc.wait()
    assert "No Redis answers at" in output, output[-3000:]  # it reached the executor choice
    assert proc.returncode != 0, "up.sh was expected to stop at airflow db migrate"
    assert BROKER_PASSWORD not in output, [line for line in output.splitlines() if BROKER_PASSWORD in line]


def test_airflow_init_removes_a_connection_taken_out_of_env(pg_server, tmp_path):
    """Defect: README ("It runs `airflow connections import --overwrite`, so `.env` always wins")
    and docker/airflow-init.sh:8 promise that .env decides the connections, but a connection whose
    variable is emptied in .env (a department's access revoked, the alert webhook switched off) is
    only skipped by docker/baselib_init.py:67-82 — the copy in the metadata database stays and keeps
    being used: the revoked password keeps working in the tasks, alerts keep going to the old
    webhook. Run airflow-init.sh (the real script, real `airflow`, a fresh metadata database) with
    BASELIB_CONN_COURT_API and BASELIB_ALERT_WEBHOOK_URL set, then again with both emptied."""
    from urllib.parse import urlsplit

    from baselib.warehouse import provision

    server = urlsplit(pg_server)
    tag = f"{os.getpid()}_review"
    metadata_db, warehouse_db = f"baselib_test_review_meta_{tag}", f"baselib_test_review_wh_{tag}"
    for name in (metadata_db, warehouse_db):
        provision.drop_database(pg_server, name)
    metadata = provision.ensure_database(pg_server, metadata_db)
    provision.ensure_database(pg_server, warehouse_db)
    env = {
        "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://" + metadata.split("://", 1)[1],
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "no_dags"),
        "AIRFLOW__CORE__FERNET_KEY": "",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "auth" / "passwords.json"),
        "PYTHONPATH": str(ROOT / "plugins"),
        "AIRFLOW_ADMIN_USER": "ops", "AIRFLOW_ADMIN_PASSWORD": "a-review-password",
        "WAREHOUSE_HOST": server.hostname, "WAREHOUSE_PORT": str(server.port or 5432),
        "WAREHOUSE_USER": server.username or "postgres", "WAREHOUSE_PASSWORD": server.password or "",
        "WAREHOUSE_DB": warehouse_db, "WAREHOUSE_CHECK_ATTEMPTS": "3",
        "BASELIB_CONN_COURT_API": "https://:revoked-court-token@court.example:8443/",
        "BASELIB_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hooks/old-channel",
    }

    def run_init(environ) -> None:
        done = subprocess.run(["bash", str(ROOT / "docker" / "airflow-init.sh")], env=environ, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def connection_ids(environ) -> set[str]:
        out = tmp_path / "export.json"
        done = subprocess.run(["airflow", "connections", "export", str(out), "--file-format", "json"],
                              env=environ, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return set(json.loads(out.read_text()))

    try:
        run_init(env)
        assert {"court_api", "baselib_alerts"} <= connection_ids(env)
        emptied = {**env, "BASELIB_CONN_COURT_API": "", "BASELIB_ALERT_WEBHOOK_URL": ""}
        run_init(emptied)
        left = connection_ids(emptied) & {"court_api", "baselib_alerts"}
        assert not left, f"connections removed from .env are still in Airflow: {sorted(left)}"
    finally:
        for name in (metadata_db, warehouse_db):
            provision.drop_database(pg_server, name)
