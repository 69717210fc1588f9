"""Review of issue 13 (deployment), security and data safety: each test names a defect and fails
until it is fixed. Real components only: the Compose file parsed by ``docker-compose config``,
Airflow's own auth manager, a real PostgreSQL for the database errors, loopback HTTP receivers
(and a loopback port nobody listens on) for the webhook."""
from __future__ import annotations

import datetime as dt
import json
import logging
import socket

import psycopg2
import pytest

from baselib.orchestration import alerts
from tests.e2e.alert_receiver import AlertReceiver

UTC = dt.timezone.utc
# a webhook whose token is part of the path (Slack, Teams, Feishu/Lark, WeCom style); .env.example
# says of BASELIB_ALERT_WEBHOOK_URL "it often embeds a token: keep it secret"
WEBHOOK_TOKEN = "XqZ7pLm2Vb9RtK4sWn8Yc3Hd"
ID_NUMBER = "110101199003077758"  # an 18-digit resident ID number (身份证号), personal data


@pytest.fixture(autouse=True)
def _fresh_alert_env(monkeypatch):
    for name in ("AIRFLOW_CONN_BASELIB_ALERTS", "AIRFLOW_CONN_SMTP_DEFAULT", alerts.CHANNELS_ENV,
                 alerts.EMAIL_TO_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(alerts, "_not_configured_logged", False)


class _Ti:
    """The failed task instance of an alert context (what the task runner passes)."""

    dag_id, run_id, task_id, log_url = "base_population__person", "scheduled__2026-11-01", "load", "http://ui/log"

    def xcom_pull(self, task_ids):
        return None


def _context(error: BaseException) -> dict:
    return {"ti": _Ti(), "exception": error, "data_interval_start": dt.datetime(2026, 10, 31, 16, tzinfo=UTC),
            "data_interval_end": dt.datetime(2026, 11, 1, 16, tzinfo=UTC)}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- docker-compose.yaml: the auth manager -----------------------------------------------------------

def test_compose_production_deployment_does_not_use_the_dev_only_simple_auth_manager():
    """Defect: docker-compose.yaml:25 runs the production deployment with SimpleAuthManager, which
    Airflow documents as "should not be used in production ... only intended for development and
    testing" (plaintext passwords file, no roles beyond the one in the env, no rotation). Airflow's
    own heuristic (SimpleAuthManager._looks_like_production) classes this Compose deployment
    (PostgreSQL metadata, CeleryExecutor) as production and logs a warning at every api-server
    start. The official Airflow 3 Compose layout uses FabAuthManager (or Keycloak)."""
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    from tests.deployment.test_compose import ENV_EXAMPLE, _env, compose

    done = compose(ENV_EXAMPLE, "config")
    assert done.returncode == 0, done.stderr
    import yaml

    env = _env(yaml.safe_load(done.stdout)["services"]["airflow-apiserver"])
    manager = env.get("AIRFLOW__CORE__AUTH_MANAGER", "")
    looks_like_production = SimpleAuthManager._looks_like_production(
        sql_conn=env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], api_host=env.get("AIRFLOW__API__HOST", "0.0.0.0"),
        executor=env["AIRFLOW__CORE__EXECUTOR"])
    assert looks_like_production  # what Airflow itself thinks of this deployment
    assert not manager.endswith("SimpleAuthManager"), (
        f"the production Compose deployment uses {manager}, which Airflow says is for development only")


# --- alerts: the webhook URL's token ------------------------------------------------------------------

def test_webhook_url_token_is_not_written_to_the_task_log_when_the_receiver_is_down(population, monkeypatch,
                                                                                      caplog):
    """Defect: when the webhook cannot be reached, alerts._report_failure
    (plugins/baselib/orchestration/alerts.py:293) logs ``describe(exc)``, and requests'
    ConnectionError quotes the URL path — the webhook's secret token — in the task log (the HTTP
    hook's own warning quotes it too). ``redact`` only knows a connection's password and extra
    keys, not a token in the host/path of ``baselib_alerts``. The task log is readable by every UI
    user with log access; the token lets anyone post to the team's alert channel."""
    port = _closed_port()
    monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", json.dumps(
        {"conn_type": "http", "host": f"http://127.0.0.1:{port}/services/T0AB12/B0CD34/{WEBHOOK_TOKEN}"}))
    with caplog.at_level(logging.INFO):  # the task logs' level (issue 13)
        alerts.on_failure(population)(_context(RuntimeError("merge failed")))
    assert "could not send the webhook alert" in caplog.text  # the failure was logged (and swallowed)
    assert WEBHOOK_TOKEN not in caplog.text


# --- alerts: personal data ------------------------------------------------------------------------------

def _database_error(dbs, statement: str) -> psycopg2.Error:
    """The real psycopg2 error PostgreSQL raises for ``statement`` on a table of resident IDs."""
    conn = dbs.warehouse()
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE person (id_number varchar(18) PRIMARY KEY, age int)")
            cur.execute("INSERT INTO person VALUES (%s, 30)", (ID_NUMBER,))
            conn.commit()
            with pytest.raises(psycopg2.Error) as caught:
                cur.execute(statement, (ID_NUMBER,))
        return caught.value
    finally:
        conn.rollback()
        conn.close()


@pytest.mark.parametrize("statement", [
    "INSERT INTO person VALUES (%s, 31)",                 # unique violation: DETAIL Key (id_number)=(…)
    "INSERT INTO person VALUES ('x', %s::int)",           # cast error: invalid input syntax … "…"
], ids=["unique_violation", "cast_error"])
def test_alert_payload_carries_no_id_number_from_a_database_error(dbs, population, monkeypatch, statement):
    """Defect: a load that fails on a database error sends PostgreSQL's message verbatim in the
    alert's ``error`` (alerts.failure_payload, plugins/baselib/orchestration/alerts.py:413 →
    build_payload, which only redacts credentials). PostgreSQL quotes the offending row's values
    ("DETAIL: Key (id_number)=(110101…) already exists", "invalid input syntax for type integer:
    \"110101…\""), so a resident's ID number leaves the platform for the webhook (a chat channel)
    and the mailbox. The payload must not carry raw personal data."""
    error = _database_error(dbs, statement)
    assert ID_NUMBER in str(error)  # what PostgreSQL said
    with AlertReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", receiver.connection())
        alerts.on_failure(population)(_context(error))
    ((_, body),) = receiver.posts
    assert body["kind"] == "task_failed" and body["error"]
    assert ID_NUMBER not in json.dumps(body, ensure_ascii=False)


def test_email_alert_carries_no_id_number_from_a_database_error(dbs, population):
    """Defect (same cause, e-mail channel): the e-mail body built from the payload
    (alerts.email_content) quotes the ID number of the database error."""
    error = _database_error(dbs, "INSERT INTO person VALUES (%s, 31)")
    payload = alerts.failure_payload(_context(error), **alerts.resource_fields(population))
    subject, body = alerts.email_content(payload)
    assert ID_NUMBER not in subject + body


# --- housekeeping: the staging of a run whose task was killed --------------------------------------------

class _KilledLoadTi(_Ti):
    """The ``load`` task of a run whose worker was killed (OOM, a Celery worker container
    restarted): extract had succeeded and pushed its load id; load never reached its own
    ``except`` (pipeline._fail), so ops.load_run still says ``running``."""

    def __init__(self, load_id: int):
        self._load_id = load_id

    def xcom_pull(self, task_ids):
        return {"load_id": self._load_id} if task_ids == "extract" else None


def test_staging_of_a_run_whose_task_was_killed_is_removed_after_the_retention(dbs, population, tmp_path,
                                                                             monkeypatch):
    """Defect: a load whose task was killed (SIGKILL/OOM, a worker lost — Airflow fails it by its
    heartbeat timeout and runs its on_failure_callback) keeps ``ops.load_run.status = 'running'``
    forever: the FailureNotifier (alerts.py:446) only reads the record, and housekeeping never
    touches a ``running`` run "however old" (records/housekeeping.py:16, 143). Its staging folder
    — the whole extract, personal data included — is never removed, although issue 13 asks that
    the staging files of failed runs go after the retention period. Expected: once Airflow has
    reported the failure, the run counts as failed and its folder goes like any failed run's."""
    import pyarrow as pa

    from baselib import storage
    from baselib.records import housekeeping, load_run
    from baselib.warehouse import connections, schema

    staging = tmp_path / "staging"
    monkeypatch.setenv("BASELIB_STAGING_URL", staging.as_uri())
    conn = connections.connect("warehouse")
    try:
        schema.ensure(conn, [])
        load_id = load_run.start(conn, resource_code=population.code, dag_id=population.dag_id,
                                 run_id="scheduled__killed", logical_date=None, data_interval_start=None,
                                 data_interval_end=None, mode="full")
        conn.commit()
    finally:
        conn.close()
    prefix = storage.load_prefix(population.dag_id, load_id)
    storage.PartWriter(f"{prefix}/extract").write(pa.table({"id_number": pa.array([ID_NUMBER])}))
    folder = staging / population.dag_id / f"load-{load_id}"
    assert folder.is_dir()

    # Airflow reports the killed task as failed: the DAGs' on_failure_callback runs
    alerts.on_failure(population)({"ti": _KilledLoadTi(load_id), "exception": "Task was killed (heartbeat timeout)",
                                   "data_interval_start": None, "data_interval_end": None})

    # ten days later (ages set, not waited for): the daily housekeeping sweep
    conn = connections.connect("warehouse")
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE ops.load_run SET started_at = started_at - interval '10 days', "
                        "finished_at = finished_at - interval '10 days' WHERE load_id = %s", (load_id,))
        conn.commit()
        old = (dt.datetime.now() - dt.timedelta(days=10)).timestamp()
        for path in [folder, *folder.rglob("*")]:
            import os

            os.utime(path, (old, old))
        done = housekeeping.sweep(conn, retention=7)
    finally:
        conn.close()
    assert [f.why_kept for f in done.kept] == [], f"kept: {[(f.uri, f.why_kept) for f in done.kept]}"
    assert not folder.exists()


def test_a_run_waiting_for_its_automatic_retry_keeps_its_staging(dbs, population, tmp_path, monkeypatch):
    """Defect: ``failed`` is not terminal, yet housekeeping treats it so (records/housekeeping.py:9-11,
    36). pipeline._fail records ``failed`` + ``finished_at`` on *every* try that fails; the ``load``
    task is then retried automatically (``retries=1``, 30 s later: dag_factory.py:147, 181) and the
    retry reads the same staging parts (``valid_parts``). The retention may be 0
    (retention_days() and the DAG's ``retention_days`` param accept it, "minimum 0"), so a sweep —
    e.g. an operator triggering staging_housekeeping with retention_days=0 to free space — deletes
    the parts of a run whose retry is due in seconds; the retry then fails for good. Expected: a
    run that failed less than its retry window ago keeps its folder whatever the retention (or
    only a final failure — reported by the last try — makes it removable)."""
    import pyarrow as pa

    from baselib import storage
    from baselib.records import housekeeping, load_run
    from baselib.warehouse import connections, schema

    staging = tmp_path / "staging"
    monkeypatch.setenv("BASELIB_STAGING_URL", staging.as_uri())
    conn = connections.connect("warehouse")
    try:
        schema.ensure(conn, [])
        load_id = load_run.start(conn, resource_code=population.code, dag_id=population.dag_id,
                                 run_id="scheduled__retrying", logical_date=None, data_interval_start=None,
                                 data_interval_end=None, mode="full")
        conn.commit()
        prefix = storage.load_prefix(population.dag_id, load_id)
        storage.PartWriter(f"{prefix}/extract").write(pa.table({"v": pa.array([1, 2, 3])}))
        # the first try of load fails (a warehouse hiccup) exactly as pipeline._fail records it
        load_run.record_error(conn, load_id, "load", RuntimeError("server closed the connection unexpectedly"))
        conn.commit()
        done = housekeeping.sweep(conn, retention=0)
    finally:
        conn.close()
    assert [f.load_id for f in done.removed] == []
    assert (staging / population.dag_id / f"load-{load_id}").is_dir()
