"""Alerts (baselib.orchestration.alerts): configuration, payloads, grace per update cycle, the
DeadlineAlert on the built DAGs, and sending through the providers' notifiers to real loopback
receivers (an http.server for the webhook, Python's smtpd for e-mail)."""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import email
import json
import logging
import threading
import warnings
from email import policy

import pytest
import yaml

from baselib.catalog import load_entry, scan_catalog
from baselib.catalog.model import UpdateCycle
from baselib.errors import CatalogError
from baselib.orchestration import alerts
from baselib.settings import CATALOG_DIR
from tests.e2e.alert_receiver import AlertReceiver

SECRET = "Sup3r-Secret-Pw"
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def catalog():
    return scan_catalog()


@pytest.fixture
def population(catalog):
    return next(r for r in catalog.resources if r.code == "101001/000001")


@pytest.fixture(autouse=True)
def _fresh_alert_env(monkeypatch):
    for name in ("AIRFLOW_CONN_BASELIB_ALERTS", "AIRFLOW_CONN_SMTP_DEFAULT", alerts.CHANNELS_ENV,
                 alerts.EMAIL_TO_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(alerts, "_not_configured_logged", False)


# --- configuration ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    (None, ("webhook",)), ("", ("webhook",)), ("email", ("email",)),
    (" Webhook , EMAIL,webhook ", ("webhook", "email")),
])
def test_channels(raw, expected):
    assert alerts.channels({} if raw is None else {alerts.CHANNELS_ENV: raw}) == expected


def test_unknown_channel_is_named():
    with pytest.raises(alerts.AlertConfigError, match="slack"):
        alerts.channels({alerts.CHANNELS_ENV: "webhook,slack"})


def test_email_recipients():
    assert alerts.email_recipients({alerts.EMAIL_TO_ENV: "a@x.cn; b@x.cn,"}) == ["a@x.cn", "b@x.cn"]
    with pytest.raises(alerts.AlertConfigError, match=alerts.EMAIL_TO_ENV):
        alerts.email_recipients({})


# --- payloads -----------------------------------------------------------------------------------

def test_payload_names_everything_in_shanghai_time_and_redacts(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_X", f"postgresql://reader:{SECRET}@db.example:5432/front")
    payload = alerts.build_payload(
        "task_failed", dag_id="base_population__person", run_id="scheduled__2026-11-01", task_id="extract",
        data_interval_start=dt.datetime(2026, 10, 31, 16, tzinfo=UTC),
        data_interval_end=dt.datetime(2026, 11, 1, 16, tzinfo=UTC),
        resource_code="101001/000001", resource_name="户籍人口基本信息", provider="省公安厅",
        error=f"OperationalError: could not connect with password={SECRET} (dsn uses {SECRET})")
    text = json.dumps(payload, ensure_ascii=False)
    assert SECRET not in text and "***" in payload["error"]
    assert payload["kind"] == "task_failed" and payload["title"] == {"zh": "任务失败", "en": "task failed"}
    assert payload["data_interval"] == {"start": "2026-11-01T00:00:00+08:00", "end": "2026-11-02T00:00:00+08:00",
                                        "timezone": "Asia/Shanghai"}
    assert payload["resource"] == {"code": "101001/000001", "name": "户籍人口基本信息"}
    assert payload["provider"]["name"] == "省公安厅"
    with pytest.raises(ValueError, match="unknown alert kind"):
        alerts.build_payload("nope", dag_id="d", run_id="r")


def test_email_content_is_bilingual_and_escaped():
    payload = alerts.build_payload("load_blocked", dag_id="d", run_id="r", task_id="validate",
                                   resource_name="户籍人口基本信息", provider="省公安厅",
                                   error="<script>x</script>", report_path="/reports/d/load-3/index.html")
    subject, body = alerts.email_content(payload)
    assert subject == "[baselib] 入库被质量检查阻断 / load blocked by quality checks: 户籍人口基本信息"
    assert "提供部门 / Provider" in body and "省公安厅" in body and "/reports/d/load-3/index.html" in body
    assert "<script>" not in body and "&lt;script&gt;" in body


def test_overdue_payload_from_a_deadline_context():
    context = {"dag_run": {"dag_id": "base_population__person", "dag_run_id": "manual__x", "state": "failed",
                           "data_interval_start": "2026-11-20T16:00:00Z", "data_interval_end": "2026-11-21T16:00:00Z"},
               "deadline": {"id": "1", "deadline_time": dt.datetime(2026, 11, 21, 22, tzinfo=UTC)}}
    payload = alerts.overdue_payload(context, resource_code="101001/000001", resource_name="户籍人口基本信息",
                                     provider="省公安厅", provider_code="X", update_cycle="每日",
                                     overdue_after_hours=6.0)
    assert payload["kind"] == "provider_overdue" and payload["run_id"] == "manual__x"
    assert payload["deadline"] == "2026-11-22T06:00:00+08:00"
    assert payload["data_interval"]["start"] == "2026-11-21T00:00:00+08:00"
    assert payload["provider"] == {"name": "省公安厅", "code": "X"} and "省公安厅" in payload["error"]


# --- grace and the deadline ----------------------------------------------------------------------

@pytest.mark.parametrize("cycle, length, grace", [
    (UpdateCycle.realtime, dt.timedelta(hours=1), dt.timedelta(minutes=30)),
    (UpdateCycle.daily, dt.timedelta(days=1), dt.timedelta(hours=6)),
    (UpdateCycle.weekly, dt.timedelta(days=7), dt.timedelta(days=1)),
    (UpdateCycle.monthly, dt.timedelta(days=31), dt.timedelta(days=1)),
    (UpdateCycle.quarterly, dt.timedelta(days=92), dt.timedelta(days=3)),
    (UpdateCycle.yearly, dt.timedelta(days=366), dt.timedelta(days=3)),
])
def test_grace_per_update_cycle(population, cycle, length, grace):
    resource = population.model_copy(update={"update_cycle": cycle})
    assert alerts.cycle_length(resource) == length and alerts.grace(resource) == grace
    assert alerts.overdue_interval(resource) == grace  # after the data interval's END


def test_no_deadline_for_cycle_other(population):
    resource = population.model_copy(update={"update_cycle": UpdateCycle.other})
    assert alerts.overdue_interval(resource) is None and alerts.deadline_alert(resource) is None


def test_schedule_override_uses_its_longest_gap(population):
    pipeline = population.pipeline.model_copy(update={"schedule": "0 2 1 1,7 *"})  # twice a year
    resource = population.model_copy(update={"pipeline": pipeline})
    assert alerts.cycle_length(resource) == dt.timedelta(days=184)  # July → January


def _entry(tmp_path, **pipeline):
    data = yaml.safe_load((CATALOG_DIR / "base_population_person.yaml").read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["pipeline"].update(pipeline)
    path = tmp_path / "entry.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("value, expected", [
    ("PT2H", dt.timedelta(hours=2)), ("P2D", dt.timedelta(days=2)), (12, dt.timedelta(hours=12)),
    (1.5, dt.timedelta(minutes=90)),
])
def test_catalog_overdue_after_overrides_the_grace(tmp_path, value, expected):
    resource = load_entry(_entry(tmp_path, overdue_after=value))
    assert resource.pipeline.overdue_after == expected
    assert alerts.overdue_interval(resource) == expected


@pytest.mark.parametrize("value", [0, -3, "soon"])
def test_catalog_rejects_a_bad_overdue_after(tmp_path, value):
    with pytest.raises(CatalogError, match="overdue_after"):
        load_entry(_entry(tmp_path, overdue_after=value))


def test_every_cron_dag_has_its_deadline_alert_and_themes_none(catalog):
    from airflow.sdk import AsyncCallback
    from baselib.orchestration.dag_factory import build_all

    dags = build_all()
    by_dag = {r.dag_id: r for r in catalog.resources}
    assert set(by_dag) <= set(dags)
    cron_dags = 0
    for dag_id, resource in by_dag.items():
        dag = dags[dag_id]
        callback = dag.default_args["on_failure_callback"]
        assert isinstance(callback, alerts.FailureNotifier) and callback.resource["provider"] == resource.provider.name
        if resource.is_theme:
            assert not dag.deadline, dag_id
            continue
        cron_dags += 1
        (alert,) = dag.deadline
        assert isinstance(alert.reference, alerts.DataIntervalEndDeadline)
        expected = alerts.CYCLE_DEFAULTS[resource.update_cycle.name]
        assert alert.interval == (resource.pipeline.overdue_after or expected[1]), dag_id
        assert isinstance(alert.callback, AsyncCallback)
        assert alert.callback.path == "baselib.orchestration.alerts.overdue_callback"
        assert alert.callback.kwargs["provider"] == resource.provider.name
        assert alert.callback.kwargs["resource_code"] == resource.code
    assert cron_dags >= 10
    population = dags["base_population__person"].deadline[0]
    assert population.interval == dt.timedelta(hours=6)  # 每日: 6 h after the day ends
    tax = next(r for r in catalog.resources if r.pipeline.schedule)  # "0 2 1 5 *": yearly on 1 May
    assert dags[tax.dag_id].deadline[0].interval == dt.timedelta(days=3)


def test_platform_dags_alert_on_failure():
    from baselib.orchestration.schedules import platform_dag_args

    args = platform_dag_args("sharing_reconcile", description="d", doc_md=None, cron="0 3 * * *", concern="sharing")
    notifier = args["default_args"]["on_failure_callback"]
    assert isinstance(notifier, alerts.FailureNotifier) and notifier.resource == {}


# --- sending to real receivers ------------------------------------------------------------------

class _Ti:
    dag_id, run_id, task_id, log_url = "base_population__person", "manual__1", "load", "http://ui/log"

    def xcom_pull(self, task_ids):
        return None  # no extract result: no load record to read


def _context(error: BaseException) -> dict:
    return {"ti": _Ti(), "exception": error, "data_interval_start": dt.datetime(2026, 10, 31, 16, tzinfo=UTC),
            "data_interval_end": dt.datetime(2026, 11, 1, 16, tzinfo=UTC)}


def test_failure_notifier_posts_to_the_webhook(population, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_X", f"postgresql://reader:{SECRET}@db.example:5432/front")
    with AlertReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", receiver.connection("/hooks/baselib"))
        alerts.on_failure(population)(_context(RuntimeError(f"merge failed: password={SECRET}")))
    ((path, body),) = receiver.posts
    assert path == "/hooks/baselib"
    assert body["kind"] == "task_failed" and body["task_id"] == "load" and body["log_url"] == "http://ui/log"
    assert body["resource"]["code"] == "101001/000001" and body["provider"]["name"] == "省公安厅"
    assert body["error"].startswith("RuntimeError: merge failed") and SECRET not in json.dumps(body)


def test_a_failing_receiver_never_raises(population, monkeypatch, caplog):
    with AlertReceiver(status=500) as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", receiver.connection())
        with caplog.at_level(logging.ERROR, logger=alerts.__name__):
            alerts.on_failure(population)(_context(RuntimeError("boom")))
    assert len(receiver.posts) >= 1
    assert "could not send the webhook alert" in caplog.text


def test_missing_connection_is_logged_once(population, caplog):
    with caplog.at_level(logging.WARNING, logger=alerts.__name__):
        for _ in range(3):
            alerts.on_failure(population)(_context(RuntimeError("boom")))
    assert caplog.text.count("alerts are not configured") == 1


def test_overdue_callback_posts_through_the_async_notifier(monkeypatch):
    context = {"dag_run": {"dag_id": "d", "dag_run_id": "r", "state": "running",
                           "data_interval_start": "2026-11-20T16:00:00Z", "data_interval_end": "2026-11-21T16:00:00Z"},
               "deadline": {"id": "1", "deadline_time": dt.datetime(2026, 11, 21, 22, tzinfo=UTC)}}
    with AlertReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", receiver.connection())
        sent = asyncio.run(alerts.overdue_callback(context=context, resource_code="101001/000001",
                                                   provider="省公安厅", update_cycle="每日", overdue_after_hours=6))
    assert sent == ["webhook"]
    ((_, body),) = receiver.posts
    assert body["kind"] == "provider_overdue" and body["provider"]["name"] == "省公安厅"
    assert body["deadline"] == "2026-11-22T06:00:00+08:00"


def test_no_overdue_alert_for_a_backfill_run(monkeypatch):
    context = {"dag_run": {"dag_id": "d", "dag_run_id": "backfill__x", "run_type": "backfill", "state": "running"},
               "deadline": {"id": "1", "deadline_time": dt.datetime(2026, 11, 21, 22, tzinfo=UTC)}}
    with AlertReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", receiver.connection())
        assert asyncio.run(alerts.overdue_callback(context=context, provider="省公安厅")) == []
        context["dag_run"]["run_type"] = "scheduled"
        assert asyncio.run(alerts.overdue_callback(context=context, provider="省公安厅")) == ["webhook"]
    assert [b["run_id"] for b in receiver.bodies("provider_overdue")] == ["backfill__x"]


class _SmtpReceiver:
    """Python 3.11's smtpd on a free loopback port, in a thread; ``messages`` holds what arrived."""

    def __init__(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import asyncore
            import smtpd
        self._asyncore = asyncore
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        receiver = self

        class Server(smtpd.SMTPServer):
            def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
                receiver.messages.append((mailfrom, rcpttos, email.message_from_bytes(data, policy=policy.default)))

        self.server = Server(("127.0.0.1", 0), None, decode_data=False)
        self.port = self.server.socket.getsockname()[1]
        self._thread = threading.Thread(target=asyncore.loop, kwargs={"timeout": 0.2, "map": None}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.close()
        self._thread.join(5)


def test_email_channel_sends_through_smtp(population, monkeypatch):
    with _SmtpReceiver() as smtp, AlertReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": smtp.port,
            "extra": {"from_email": "baselib@example.cn", "disable_ssl": True, "disable_tls": True}}))
        monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", receiver.connection())
        monkeypatch.setenv(alerts.CHANNELS_ENV, "webhook,email")
        monkeypatch.setenv(alerts.EMAIL_TO_ENV, "ops@example.cn")
        alerts.on_failure(population)(_context(RuntimeError("boom")))
    assert len(receiver.posts) == 1
    ((mailfrom, rcpttos, message),) = smtp.messages
    assert mailfrom == "baselib@example.cn" and rcpttos == ["ops@example.cn"]
    assert message["Subject"] == "[baselib] 任务失败 / task failed: 户籍人口基本信息"
    html_part = message.get_body(("html",)).get_content()
    assert "省公安厅" in html_part and "101001/000001" in html_part and "RuntimeError: boom" in html_part


@pytest.mark.parametrize("argv, expected", [
    (["/venv/bin/airflow", "dags", "test", "base_population__person", "2026-11-02"], True),
    (["airflow", "dags", "test", "x"], True),
    (["/venv/bin/airflow", "dag-processor"], False),
    (["/venv/bin/airflow", "dags", "list"], False),
    (["/venv/bin/pytest", "dags", "test"], False),
    (["airflow"], False),
])
def test_parsed_by_dags_test(argv, expected):
    assert alerts.parsed_by_dags_test(argv) is expected


def test_no_deadline_under_airflow_dags_test(catalog, monkeypatch):
    """apache/airflow#73428: `airflow dags test` of a DAG with a deadline exits 1 after a successful
    run, so the DAG parsed by `dags test` has none; every other parser gets it."""
    daily = next(r for r in catalog.resources if r.update_cycle is UpdateCycle.daily)
    assert alerts.deadline_alert(daily) is not None
    monkeypatch.setattr("sys.argv", ["/venv/bin/airflow", "dags", "test", daily.dag_id])
    assert alerts.deadline_alert(daily) is None


# --- review fixes: personal data, the webhook token, late catch-up runs, blocked loads -----------------

ID_NUMBER = "110101199003077758"


@pytest.mark.parametrize("text, kept", [
    (f'duplicate key value violates unique constraint "person_pkey"\nDETAIL:  Key (id_number)=({ID_NUMBER}) '
     f'already exists.\n', 'unique constraint "person_pkey"'),
    (f'invalid input syntax for type integer: "{ID_NUMBER}"\nLINE 1: INSERT INTO person VALUES (\'x\', '
     f'\'{ID_NUMBER}\'::int)\n                                        ^\n', "invalid input syntax for type integer"),
    (f"row {ID_NUMBER[:-1]}X of ods.person: phone 13812345678, credit code 91350100M000100Y43",
     "of ods.person"),
    ('connection to server at "127.0.0.1", port 5432 failed', '"127.0.0.1", port 5432'),
])
def test_depersonalise_drops_row_values_and_keeps_what_failed(text, kept):
    from baselib.security.redaction import depersonalise

    clean = depersonalise(text)
    for value in (ID_NUMBER, ID_NUMBER[:-1] + "X", "13812345678", "91350100M000100Y43"):
        assert value not in clean
    assert kept in clean and "DETAIL" not in clean and "LINE 1" not in clean


def test_payload_error_and_extra_texts_are_depersonalised():
    payload = alerts.build_payload("task_failed", dag_id="d", run_id="r",
                                   error=f"Key (id_number)=({ID_NUMBER}) already exists", note=f"id {ID_NUMBER}")
    assert ID_NUMBER not in json.dumps(payload) and payload["error"] == "Key (id_number)=([redacted]) already exists"


def test_without_urls_keeps_scheme_and_host_only():
    text = ("ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
            "/services/T0/B0/tok3n (https://user:pw@hooks.example.org:8443/hook/tok3n?sig=abc)")
    clean = alerts.without_urls(text)
    assert "tok3n" not in clean and "sig=abc" not in clean and "pw" not in clean
    assert "https://hooks.example.org:8443/***" in clean and "with url: ***" in clean


def test_webhook_url_goes_to_the_secrets_masker(monkeypatch):
    from airflow.sdk._shared.secrets_masker import _secrets_masker

    monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", json.dumps(
        {"conn_type": "http", "host": "http://127.0.0.1:9/hooks/Xq7pLm2Vb9RtK4sW"}))
    alerts._mask_webhook_url()
    assert "Xq7pLm2Vb9RtK4sW" not in str(_secrets_masker().redact("posting to /hooks/Xq7pLm2Vb9RtK4sW failed"))


def _deadline_context(run_type, *, interval_end, deadline, queued, run_after=None):
    iso = lambda t: t.astimezone(UTC).isoformat()  # noqa: E731
    return {"dag_run": {"dag_id": "base_population__person", "dag_run_id": f"{run_type}__x", "run_type": run_type,
                        "state": "running", "data_interval_start": iso(interval_end - dt.timedelta(days=1)),
                        "data_interval_end": iso(interval_end), "queued_at": iso(queued),
                        "run_after": iso(run_after or queued)},
            "deadline": {"id": "1", "deadline_time": deadline}}


def test_overdue_alert_only_for_a_run_created_before_its_deadline(monkeypatch):
    end = dt.datetime(2026, 11, 21, 16, tzinfo=UTC)
    deadline = end + dt.timedelta(hours=6)
    in_time = _deadline_context("scheduled", interval_end=end, deadline=deadline, queued=end + dt.timedelta(seconds=5))
    late_manual = _deadline_context("manual", interval_end=end, deadline=deadline, queued=deadline + dt.timedelta(days=3))
    late_catch_up = _deadline_context("scheduled", interval_end=end, deadline=deadline,
                                      queued=deadline + dt.timedelta(minutes=1), run_after=end)
    assert not alerts.created_after_deadline(in_time)
    assert alerts.created_after_deadline(late_manual) and alerts.created_after_deadline(late_catch_up)
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    with AlertReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", receiver.connection())
        for context in (late_manual, late_catch_up, in_time):
            asyncio.run(alerts.overdue_callback(context=context, provider="省公安厅"))
    assert [b["run_id"] for b in receiver.bodies("provider_overdue")] == ["scheduled__x"]


def test_plugin_registers_the_deadline_reference():
    """Airflow finds the reference among the plugins' deadline_references (what the scheduler does when
    it deserialises the DAG's DeadlineAlert), and its serialised form names the class path."""
    import baselib_airflow_plugin
    from airflow.serialization.encoders import encode_deadline_reference

    assert baselib_airflow_plugin.BaselibAirflowPlugin.deadline_references == [alerts.DataIntervalEndDeadline]
    encoded = encode_deadline_reference(alerts.DataIntervalEndDeadline())
    assert encoded["__class_path"] == "baselib.orchestration.alerts.DataIntervalEndDeadline"


def test_failure_callback_closes_the_runs_unfinished_load_record(dbs, population):
    """The final failure of a killed task (its step never recorded the error): the record of the run
    is closed as failed with the task's error; a blocked record is left as it is."""
    from baselib.records import load_run
    from baselib.warehouse import connections, schema

    conn = connections.connect("warehouse")
    try:
        schema.ensure(conn, [])
        ids = {}
        for run_id, status in (("scheduled__a", "loaded"), ("scheduled__b", "blocked")):
            ids[run_id] = load_run.start(conn, resource_code=population.code, dag_id=population.dag_id,
                                         run_id=run_id, logical_date=None, data_interval_start=None,
                                         data_interval_end=None, mode="full")
            load_run.update(conn, ids[run_id], status=status)
        conn.commit()
    finally:
        conn.close()

    class Ti:
        dag_id, task_id, log_url = population.dag_id, "record", None

        def __init__(self, run_id):
            self.run_id = run_id

        def xcom_pull(self, task_ids):
            return None  # found by dag_id + run_id

    for run_id in ids:
        alerts.on_failure(population)({"ti": Ti(run_id), "exception": "Task was killed (heartbeat timeout)"})
    rows = dict(dbs.query("SELECT run_id, status FROM ops.load_run"))
    assert rows == {"scheduled__a": "failed", "scheduled__b": "blocked"}
    (error, history), = dbs.query("SELECT error, error_history FROM ops.load_run WHERE run_id = 'scheduled__a'")
    assert "heartbeat timeout" in error and history[-1]["step"] == "record"


def test_a_blocked_run_missing_its_deadline_is_not_the_providers_lateness(dbs, population, monkeypatch):
    from baselib.records import load_run
    from baselib.warehouse import connections, schema

    conn = connections.connect("warehouse")
    try:
        schema.ensure(conn, [])
        load_id = load_run.start(conn, resource_code=population.code, dag_id=population.dag_id, run_id="scheduled__x",
                                 logical_date=None, data_interval_start=None, data_interval_end=None, mode="full")
        load_run.update(conn, load_id, status="blocked")
        conn.commit()
    finally:
        conn.close()
    end = dt.datetime(2026, 11, 21, 16, tzinfo=UTC)
    context = _deadline_context("scheduled", interval_end=end, deadline=end + dt.timedelta(hours=6),
                                queued=end + dt.timedelta(seconds=5))
    with AlertReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_BASELIB_ALERTS", receiver.connection())
        assert asyncio.run(alerts.overdue_callback(context=context, provider="省公安厅")) == ["webhook"]
    assert receiver.bodies("provider_overdue") == []
    (body,) = receiver.bodies("load_blocked_overdue")
    assert body["run_id"] == "scheduled__x" and "blocked by quality checks" in body["error"]
