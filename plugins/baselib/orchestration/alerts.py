"""Alerts: a task failure, a blocked load and an overdue provider, sent to the platform team.

Channels (env ``BASELIB_ALERT_CHANNELS``, comma list, default ``webhook``):

* ``webhook`` — the HTTP provider's ``HttpNotifier`` POSTs a JSON payload (:func:`build_payload`)
  to the HTTP connection ``baselib_alerts`` (e.g. ``AIRFLOW_CONN_BASELIB_ALERTS='{"conn_type": "http",
  "host": "https://hooks.example.org/baselib/alerts"}'``; a ``host`` with ``://`` is the whole URL,
  login/password become basic auth, other ``extra`` keys become headers).
* ``email`` — the SMTP provider's ``SmtpNotifier`` sends a Chinese + English text
  (:func:`email_content`) through the connection ``smtp_default`` (its ``extra.from_email`` is the
  sender) to ``BASELIB_ALERT_EMAIL_TO`` (comma list).

Kinds: ``task_failed`` (any task of a catalog, platform or placeholder DAG failed for good),
``load_blocked`` (``validate`` failed on a blocking quality check: ``ops.load_run.status`` is
``blocked``; the payload carries the quality report's path) and ``provider_overdue`` (a cron
DAG's run had not succeeded by its :func:`deadline_alert`, its data interval's END + the grace —
the provider's data for that interval is late). Not alerted as overdue: a run created after its
deadline had already passed (a backfill, a manual re-run of an old interval: a late catch-up says
nothing about the provider) and a run whose load the platform's own quality checks blocked (its
``ops.load_run`` record is ``blocked``: the provider delivered, ``load_blocked`` already went out).
Failures are sent by :class:`FailureNotifier` (every DAG's ``on_failure_callback`` in
``default_args``, run in the task's process after its last try), which also closes the run's
unfinished load record as ``failed`` (:func:`mark_run_failed`) so housekeeping can remove its
staging; overdue alerts by :func:`overdue_callback`, which the scheduler queues when a deadline
passes and the triggerer runs. The deadline's reference, :class:`DataIntervalEndDeadline`, is
registered with Airflow by the plugin ``plugins/baselib_airflow_plugin.py``.

Sending never changes a task's outcome: a receiver that is down or a connection that is missing is
logged (the missing connection once per process, as "alerts are not configured") and swallowed.
Every text in a payload passes :func:`baselib.security.redaction.redact`, and the error text also
:func:`baselib.security.redaction.depersonalise` (PostgreSQL quotes row values: an ID number must
not reach a chat channel or a mailbox). The webhook's URL (its path often is the token) is given
to Airflow's secrets masker before sending, and a failure to send is logged with scheme and host
only.

Module level imports only the Task SDK (DAG files import this module); the providers' notifiers
(``aiohttp``, ``requests``, ``smtplib``) load when an alert is sent.
"""
from __future__ import annotations

import datetime as dt
import functools
import html
import logging
import os
import re
from typing import Any

from airflow.sdk import BaseDeadlineReference, BaseNotifier

log = logging.getLogger(__name__)

ALERTS_CONN_ID = "baselib_alerts"
EMAIL_CONN_ID = "smtp_default"
CHANNELS_ENV = "BASELIB_ALERT_CHANNELS"
EMAIL_TO_ENV = "BASELIB_ALERT_EMAIL_TO"
CHANNELS = ("webhook", "email")
DEFAULT_CHANNELS = ("webhook",)
TASK_FAILED, LOAD_BLOCKED, PROVIDER_OVERDUE = "task_failed", "load_blocked", "provider_overdue"
LOAD_BLOCKED_OVERDUE = "load_blocked_overdue"
KIND_TITLES = {TASK_FAILED: ("任务失败", "task failed"),
               LOAD_BLOCKED: ("入库被质量检查阻断", "load blocked by quality checks"),
               LOAD_BLOCKED_OVERDUE: ("数据已按时提供但入库被阻断，本期数据仍缺失",
                                      "data delivered but blocked by quality checks; still missing at the deadline"),
               PROVIDER_OVERDUE: ("提供部门数据逾期", "provider data overdue")}
TIMEZONE = "Asia/Shanghai"
SEND_TIMEOUT_SECONDS = 30  # per webhook request (sync), and per channel in the triggerer (async)

# Nominal (longest) length of one update cycle, and the default grace after a data interval ends
# before the provider counts as overdue. update cycle → (cycle length, grace).
_HOUR, _DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
CYCLE_DEFAULTS: dict[str, tuple[dt.timedelta, dt.timedelta]] = {
    "realtime": (_HOUR, dt.timedelta(minutes=30)),
    "daily": (_DAY, 6 * _HOUR),
    "weekly": (7 * _DAY, _DAY),
    "monthly": (31 * _DAY, _DAY),
    "quarterly": (92 * _DAY, 3 * _DAY),
    "half_yearly": (184 * _DAY, 3 * _DAY),
    "yearly": (366 * _DAY, 3 * _DAY),
}


class AlertConfigError(ValueError):
    """``BASELIB_ALERT_CHANNELS`` names an unknown channel, or ``email`` has no recipients."""


def channels(environ=None) -> tuple[str, ...]:
    """The channels of ``BASELIB_ALERT_CHANNELS`` (``environ`` default ``os.environ``): a comma
    list of ``webhook``/``email``, case and blanks ignored, duplicates dropped; unset or empty →
    ``("webhook",)``. Raises :class:`AlertConfigError` naming an unknown channel."""
    environ = os.environ if environ is None else environ
    raw = [c.strip().lower() for c in (environ.get(CHANNELS_ENV) or "").split(",") if c.strip()]
    unknown = [c for c in raw if c not in CHANNELS]
    if unknown:
        raise AlertConfigError(f"{CHANNELS_ENV}: unknown channel(s) {', '.join(unknown)}; "
                               f"allowed: {', '.join(CHANNELS)}")
    return tuple(dict.fromkeys(raw)) or DEFAULT_CHANNELS


def email_recipients(environ=None) -> list[str]:
    """The addresses of ``BASELIB_ALERT_EMAIL_TO`` (comma or semicolon list). Raises
    :class:`AlertConfigError` when it is empty."""
    environ = os.environ if environ is None else environ
    to = [a.strip() for a in (environ.get(EMAIL_TO_ENV) or "").replace(";", ",").split(",") if a.strip()]
    if not to:
        raise AlertConfigError(f"channel email needs recipients in {EMAIL_TO_ENV}")
    return to


# ---------------------------------------------------------------------------------------------
# overdue providers: the DeadlineAlert of a cron DAG

@functools.lru_cache(maxsize=64)
def _longest_gap(cron: str) -> dt.timedelta:
    """The longest time between two fires of ``cron`` (Asia/Shanghai) over its next 1000 fires or two
    years from 2026-01-01, whichever comes first: a cycle length that is never too short."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    start = dt.datetime(2026, 1, 1, tzinfo=ZoneInfo(TIMEZONE))
    fires = croniter(cron, start)
    previous, longest = fires.get_next(dt.datetime), dt.timedelta(0)
    for _ in range(1000):
        fire = fires.get_next(dt.datetime)
        longest = max(longest, fire - previous)
        if fire - start > dt.timedelta(days=731):
            break
        previous = fire
    return longest


def cycle_length(resource) -> dt.timedelta | None:
    """The length of one data interval of ``resource``'s cron DAG: the longest gap of its
    ``pipeline.schedule`` override, else the nominal longest length of its 更新周期 (a month: 31
    days). None for a theme (asset-triggered) or cycle ``other`` (no schedule)."""
    if resource.is_theme:
        return None
    if resource.pipeline.schedule:
        return _longest_gap(resource.pipeline.schedule)
    defaults = CYCLE_DEFAULTS.get(resource.update_cycle.name)
    return defaults[0] if defaults else None


def grace(resource) -> dt.timedelta | None:
    """How long after a data interval ends ``resource``'s data may still arrive before the provider
    is overdue: ``pipeline.overdue_after`` when set, else the default of its 更新周期
    (:data:`CYCLE_DEFAULTS`: hourly 30 min, daily 6 h, weekly and monthly 1 day, quarterly and
    longer 3 days). None when the resource has no cron schedule."""
    if cycle_length(resource) is None:
        return None
    if resource.pipeline.overdue_after is not None:
        return resource.pipeline.overdue_after
    defaults = CYCLE_DEFAULTS.get(resource.update_cycle.name)
    return defaults[1] if defaults else _DAY


def overdue_interval(resource) -> dt.timedelta | None:
    """The DeadlineAlert interval after its reference, the run's data interval END
    (:class:`DataIntervalEndDeadline`): :func:`grace`, or None when the resource has no cron
    schedule. So every run's deadline is its own interval's end + grace, whatever the interval's
    length (February, a quarter, Friday → Monday)."""
    return grace(resource)


class DataIntervalEndDeadline(BaseDeadlineReference):
    """A deadline reference: the DagRun's ``data_interval_end`` (None for a run without a data
    interval, e.g. an asset-triggered one: no deadline is created). Evaluated by the scheduler (or
    the API server) when the run is created; Airflow finds the class through the plugin
    ``baselib_airflow_plugin`` (its ``deadline_references``), so every Airflow component must have
    ``plugins/`` as its plugins folder."""

    required_kwargs = {"dag_id", "run_id"}

    def _evaluate_with(self, *, session, dag_id: str, run_id: str, **kwargs) -> dt.datetime | None:
        from airflow.models import DagRun
        from sqlalchemy import select

        return session.scalar(select(DagRun.data_interval_end).where(DagRun.dag_id == dag_id,
                                                                     DagRun.run_id == run_id))


def deadline_alert(resource):
    """The ``DeadlineAlert`` of ``resource``'s DAG, or None (themes, cycle ``other``): a run that
    has not succeeded :func:`grace` after its data interval ends makes the scheduler queue
    :func:`overdue_callback` (run by the triggerer) with the resource's code, name, provider and
    update cycle. A run that succeeds in time removes its deadline."""
    interval = overdue_interval(resource)
    if interval is None or parsed_by_dags_test():
        return None
    from airflow.sdk import AsyncCallback, DeadlineAlert

    return DeadlineAlert(
        reference=DataIntervalEndDeadline(),
        interval=interval,
        callback=AsyncCallback(overdue_callback, kwargs={
            **resource_fields(resource), "update_cycle": resource.update_cycle.value,
            "overdue_after_hours": round(grace(resource).total_seconds() / 3600, 3)}),
        name=f"{resource.code} overdue",
    )


def parsed_by_dags_test(argv: list[str] | None = None) -> bool:
    """Whether this process is ``airflow dags test`` (``argv`` default ``sys.argv``). Airflow 3.3.2's
    ``dags test`` builds its run's DAG by an in-memory serialisation round trip that leaves
    ``dag.deadline`` holding encoded alerts instead of ``deadline_alert`` ids, and crashes with
    "'dict' object has no attribute 'hex'" after a run that succeeded (apache/airflow#73428, fix
    proposed in #73430). A test run is watched by whoever started it, so its DAG has no deadline;
    the DAGs the dag-processor parses for the scheduler keep theirs."""
    import os
    import sys

    args = sys.argv if argv is None else argv
    return len(args) >= 3 and os.path.basename(args[0]) == "airflow" and args[1:3] == ["dags", "test"]


def resource_fields(resource) -> dict[str, str]:
    """``resource_code``, ``resource_name``, ``provider``, ``provider_code`` of a catalog entry."""
    return {"resource_code": resource.code, "resource_name": resource.name,
            "provider": resource.provider.name, "provider_code": resource.provider.code}


# ---------------------------------------------------------------------------------------------
# payloads

def _local(value) -> str | None:
    """An aware datetime or ISO string as ISO-8601 in Asia/Shanghai (None stays None)."""
    if value is None or value == "":
        return None
    from zoneinfo import ZoneInfo

    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(ZoneInfo(TIMEZONE)).isoformat()


def build_payload(kind: str, *, dag_id: str, run_id: str | None, task_id: str | None = None,
                  data_interval_start=None, data_interval_end=None, resource_code: str | None = None,
                  resource_name: str | None = None, provider: str | None = None,
                  provider_code: str | None = None, error: str | None = None, report_path: str | None = None,
                  log_url: str | None = None, deadline=None, **extra: Any) -> dict:
    """The webhook's JSON body (a dict of JSON values)::

        {"kind": "task_failed" | "load_blocked" | "provider_overdue" | "load_blocked_overdue", "title": {"zh", "en"},
         "dag_id", "run_id", "task_id",
         "data_interval": {"start", "end", "timezone": "Asia/Shanghai"},   # ISO-8601, +08:00
         "resource": {"code", "name"}, "provider": {"name", "code"},        # 部门 from the catalog
         "error", "report_path", "log_url", "deadline", **extra}

    Datetimes (aware, or ISO strings) are given in Asia/Shanghai; absent values are null. Every
    string passes :func:`baselib.security.redaction.redact`; the free texts (``error`` and any string
    in ``extra``) also :func:`baselib.security.redaction.depersonalise`. Raises ValueError for an
    unknown kind."""
    from baselib.security.redaction import depersonalise, redact

    if kind not in KIND_TITLES:
        raise ValueError(f"unknown alert kind {kind!r}; known: {', '.join(KIND_TITLES)}")
    zh, en = KIND_TITLES[kind]
    payload = {
        "kind": kind, "title": {"zh": zh, "en": en}, "dag_id": dag_id, "run_id": run_id, "task_id": task_id,
        "data_interval": {"start": _local(data_interval_start), "end": _local(data_interval_end),
                          "timezone": TIMEZONE},
        "resource": {"code": resource_code, "name": resource_name},
        "provider": {"name": provider, "code": provider_code},
        "error": depersonalise(error), "report_path": report_path, "log_url": log_url,
        "deadline": _local(deadline),
        **{k: depersonalise(v) if isinstance(v, str) else v for k, v in extra.items()},
    }
    return _redacted(payload, redact)


def _redacted(value, redact):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v, redact) for v in value]
    return value


def email_content(payload: dict) -> tuple[str, str]:
    """``(subject, html body)`` of a payload, Chinese then English, every value HTML-escaped."""
    zh, en = payload["title"]["zh"], payload["title"]["en"]
    what = payload["resource"]["name"] or payload["dag_id"]
    subject = f"[baselib] {zh} / {en}: {what}"
    interval = payload["data_interval"]
    rows = [
        ("类型 / Kind", payload["kind"]),
        ("资源 / Resource", " ".join(filter(None, [payload["resource"]["code"], payload["resource"]["name"]]))),
        ("提供部门 / Provider", payload["provider"]["name"]),
        ("DAG", payload["dag_id"]), ("运行 / Run", payload["run_id"]), ("任务 / Task", payload["task_id"]),
        ("数据区间 / Data interval (Asia/Shanghai)",
         f"{interval['start']} – {interval['end']}" if interval["start"] else None),
        ("截止时间 / Deadline", payload.get("deadline")),
        ("错误 / Error", payload.get("error")),
        ("质量报告 / Quality report", payload.get("report_path")),
        ("日志 / Log", payload.get("log_url")),
    ]
    body = "".join(f"<tr><th align=left>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows if v)
    return subject, f"<p>{html.escape(zh)} / {html.escape(en)}</p><table>{body}</table>"


# ---------------------------------------------------------------------------------------------
# sending

_not_configured_logged = False


def _is_missing_connection(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name in ("AirflowNotFoundException", "ConnectionNotFound") or "isn't defined" in str(exc)


_URL_IN_TEXT = re.compile(r"(?P<origin>\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s'\"?#]+)[^\s'\",)]*")
_REQUEST_PATH = re.compile(r"(?P<head>\b(?:with url|url|path)\s*[:=]\s*)[^\s'\",)]+", re.IGNORECASE)


def without_urls(text: str) -> str:
    """``text`` with every URL cut to ``scheme://host[:port]/***`` (userinfo kept out, path, query and
    fragment masked) and a ``url: /path`` (requests' "Max retries exceeded with url: …") masked:
    how a webhook error is logged, since a webhook's path or query usually is its token."""
    text = _URL_IN_TEXT.sub(lambda m: _origin(m.group("origin")) + "/***", text)
    return _REQUEST_PATH.sub(lambda m: m.group("head") + "***", text)


def _origin(prefix: str) -> str:
    scheme, _, rest = prefix.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def _webhook_url() -> str | None:
    """The URL the webhook channel posts to (the HTTP hook's rule: a ``host`` with ``://`` is the
    whole URL, else ``schema``/``http`` + host + port); None when the connection cannot be read."""
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(ALERTS_CONN_ID)
    except Exception:
        return None
    host = conn.host or ""
    if "://" in host:
        return host
    url = f"{conn.schema or 'http'}://{host}"
    return f"{url}:{conn.port}" if conn.port else url


def _mask_webhook_url() -> None:
    """Give the webhook URL, and its path + query (what requests and the HTTP hook quote), to
    Airflow's secrets masker: the hook's own retry warnings in the task log show ``***``."""
    url = _webhook_url()
    if not url:
        return
    try:
        from urllib.parse import urlsplit

        from airflow.sdk.log import mask_secret

        parts = urlsplit(url)
        mask_secret(url)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        if len(tail) > 1:
            mask_secret(tail)
    except Exception as exc:  # masking is best effort; sending must go on
        log.debug("alerts: could not register the webhook URL with the secrets masker: %s", type(exc).__name__)


def _report_failure(channel: str, conn_id: str, exc: BaseException) -> None:
    """Log a channel's failure (never raise): a missing connection once per process; URLs in the
    error cut to scheme and host (:func:`without_urls`)."""
    global _not_configured_logged
    from baselib.security.redaction import describe

    if _is_missing_connection(exc):
        if not _not_configured_logged:
            _not_configured_logged = True
            log.warning("alerts are not configured: connection %r is not defined (channel %s); "
                        "no alert is sent", conn_id, channel)
        return
    log.error("could not send the %s alert through %r: %s", channel, conn_id, without_urls(describe(exc)))


def _channels_or_log() -> tuple[str, ...]:
    try:
        return channels()
    except AlertConfigError as exc:
        log.error("alerts: %s; sending through webhook only", exc)
        return DEFAULT_CHANNELS


def _notifiers(payload: dict) -> list[tuple[str, str, Any]]:
    """``(channel, connection id, provider notifier)`` per configured channel."""
    out = []
    for channel in _channels_or_log():
        if channel == "webhook":
            from airflow.providers.http.notifications.http import HttpNotifier

            out.append((channel, ALERTS_CONN_ID, HttpNotifier(
                http_conn_id=ALERTS_CONN_ID, method="POST", json=payload,
                headers={"Content-Type": "application/json; charset=utf-8"},
                extra_options={"timeout": SEND_TIMEOUT_SECONDS})))
        else:
            try:
                to = email_recipients()
            except AlertConfigError as exc:
                log.error("alerts: %s", exc)
                continue
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            subject, body = email_content(payload)
            out.append((channel, EMAIL_CONN_ID, SmtpNotifier(
                to=to, subject=subject, html_content=body, smtp_conn_id=EMAIL_CONN_ID)))
    return out


def _prepared(payload: dict) -> list[tuple[str, str, Any]]:
    """The configured notifiers of ``payload`` (:func:`_notifiers`), the webhook URL handed to the
    secrets masker first (a task's or the triggerer's log must not show a token in it); ``[]``
    (logged) when they cannot be built: an import or construction problem never fails a task."""
    try:
        notifiers = _notifiers(payload)
        if any(channel == "webhook" for channel, _, _ in notifiers):
            _mask_webhook_url()
        return notifiers
    except Exception as exc:
        _report_failure("any", ALERTS_CONN_ID, exc)
        return []


def _sent(payload: dict, sent: list[str]) -> list[str]:
    if sent:
        log.info("alert %s for %s sent through %s", payload["kind"], payload["dag_id"], ", ".join(sent))
    return sent


def send(payload: dict) -> list[str]:
    """Send ``payload`` through every configured channel (synchronously); returns the channels that
    delivered. Never raises: a failing channel is logged."""
    sent = []
    for channel, conn_id, notifier in _prepared(payload):
        try:
            notifier.notify({})  # not __call__: the payload is data, not a Jinja template
            sent.append(channel)
        except Exception as exc:
            _report_failure(channel, conn_id, exc)
    return _sent(payload, sent)


async def send_async(payload: dict) -> list[str]:
    """:func:`send` for the triggerer's event loop (the providers' ``async_notify``, each at most
    :data:`SEND_TIMEOUT_SECONDS`)."""
    import asyncio

    sent = []
    for channel, conn_id, notifier in _prepared(payload):
        try:
            await asyncio.wait_for(notifier.async_notify({}), SEND_TIMEOUT_SECONDS)
            sent.append(channel)
        except Exception as exc:
            _report_failure(channel, conn_id, exc)
    return _sent(payload, sent)


# ---------------------------------------------------------------------------------------------
# failures

def _load_record(context) -> dict | None:
    """The run's ``ops.load_run`` row (status, report_path), found through the extract task's
    XCom ``load_id``; None when there is none or the warehouse cannot be read."""
    try:
        extracted = context["ti"].xcom_pull(task_ids="extract")
        load_id = extracted.get("load_id") if isinstance(extracted, dict) else None
        if load_id is None:
            return None
        from baselib.records import load_run
        from baselib.warehouse import connections

        conn = connections.connect(connect_timeout=10)  # the warehouse may be why the task failed
        try:
            return load_run.get(conn, load_id)
        finally:
            conn.close()
    except Exception as exc:
        from baselib.security.redaction import describe

        log.warning("alerts: could not read the run's load record: %s", describe(exc))
        return None


def failure_payload(context, *, resource_code: str | None = None, resource_name: str | None = None,
                    provider: str | None = None, provider_code: str | None = None,
                    catalog_file: str | None = None) -> dict:
    """The payload of a failed task from its Airflow context (``ti``, ``dag_run``, ``exception``,
    ``data_interval_start``/``_end``). ``load_blocked`` when the task is ``validate`` and the run's
    ``ops.load_run.status`` is ``blocked`` (or, the record unreadable, the message says the load was
    blocked); else ``task_failed``. ``report_path``: the load record's quality report."""
    from baselib.security.redaction import describe

    ti = context.get("ti")
    dag_run = context.get("dag_run")
    exc = context.get("exception")
    task_id = getattr(ti, "task_id", None)
    record = _load_record(context) if resource_code else None
    blocked = task_id == "validate" and (
        (record or {}).get("status") == "blocked"
        or (record is None and exc is not None and "load blocked by" in str(exc)))
    error = describe(exc) if isinstance(exc, BaseException) else (str(exc) if exc else None)
    try:
        log_url = ti.log_url if ti is not None else None
    except Exception:
        log_url = None
    extra = {"catalog_file": catalog_file} if catalog_file else {}
    if record and record.get("load_id") is not None:
        extra["load_id"] = record["load_id"]
    return build_payload(
        LOAD_BLOCKED if blocked else TASK_FAILED,
        dag_id=getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None),
        run_id=getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None),
        task_id=task_id,
        data_interval_start=context.get("data_interval_start") or getattr(dag_run, "data_interval_start", None),
        data_interval_end=context.get("data_interval_end") or getattr(dag_run, "data_interval_end", None),
        resource_code=resource_code, resource_name=resource_name, provider=provider, provider_code=provider_code,
        error=error, report_path=(record or {}).get("report_path"), log_url=log_url, **extra)


def mark_run_failed(context) -> list[int]:
    """Close the failed run's load records that are still ``running``/``validated``/``loaded`` as
    ``failed`` with the task's error (:func:`baselib.records.load_run.fail_unfinished`): the record
    the ``extract`` task's XCom ``load_id`` names, else every record of the run's dag_id + run_id.
    Called from the failure callback, i.e. after the task's LAST try, so a killed task (SIGKILL,
    OOM, a lost worker, a timeout), which never reached its step's own error handling, does not leave
    a record non-terminal forever and its staging files become housekeeping's after the retention.
    Returns the load ids closed; never raises (a warehouse that cannot be reached is logged)."""
    try:
        ti = context.get("ti")
        dag_run = context.get("dag_run")
        dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None)
        run_id = getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None)
        load_id = None
        try:
            extracted = ti.xcom_pull(task_ids="extract") if ti is not None else None
            load_id = extracted.get("load_id") if isinstance(extracted, dict) else None
        except Exception:
            load_id = None
        if load_id is None and not (dag_id and run_id):
            return []
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            error_class, error = type(exc).__name__, f"{type(exc).__name__}: {exc}"
        else:
            error_class, error = "TaskFailed", f"task failed: {exc}" if exc else "task failed (no error given)"
        from baselib.records import load_run
        from baselib.warehouse import connections

        conn = connections.connect(connect_timeout=10)
        try:
            closed = load_run.fail_unfinished(conn, step=getattr(ti, "task_id", None), error_class=error_class,
                                              error=error, load_id=load_id, dag_id=dag_id, run_id=run_id)
            conn.commit()
        finally:
            conn.close()
        if closed:
            log.info("alerts: load record(s) %s of %s %s closed as failed", closed, dag_id, run_id)
        return closed
    except Exception as exc:
        from baselib.security.redaction import describe

        log.warning("alerts: could not mark the run's load record failed: %s", describe(exc))
        return []


class FailureNotifier(BaseNotifier):
    """``on_failure_callback`` of every catalog, platform and placeholder DAG's tasks: sends
    :func:`failure_payload` through :func:`send`, then, for a catalog DAG, closes the run's unfinished
    load record (:func:`mark_run_failed`). ``resource``: the catalog entry's :func:`resource_fields`
    (none for platform DAGs); ``catalog_file``: a broken entry's file. Never raises."""

    def __init__(self, *, resource: dict | None = None, catalog_file: str | None = None):
        super().__init__()
        self.resource = dict(resource or {})
        self.catalog_file = catalog_file

    def __call__(self, *args) -> None:  # no template rendering: error texts are data
        context = args[0] if len(args) == 1 else {}
        self.notify(context)
        if self.resource.get("resource_code"):
            mark_run_failed(context)

    def notify(self, context) -> None:
        try:
            send(failure_payload(context, catalog_file=self.catalog_file, **self.resource))
        except Exception as exc:
            from baselib.security.redaction import describe

            log.error("alerts: could not build or send the failure alert: %s", describe(exc))


def on_failure(resource=None, *, catalog_file: str | None = None) -> FailureNotifier:
    """The ``on_failure_callback`` for a DAG's ``default_args``; ``resource``: its catalog entry."""
    return FailureNotifier(resource=resource_fields(resource) if resource is not None else None,
                           catalog_file=catalog_file)


# ---------------------------------------------------------------------------------------------
# overdue providers (run by the triggerer)

def overdue_payload(context: dict | None, **kwargs) -> dict:
    """The ``provider_overdue`` payload from a missed deadline's context (``dag_run``: the REST
    DAGRunResponse as JSON; ``deadline``: ``{"id", "deadline_time"}``) and the DeadlineAlert's
    kwargs (:func:`deadline_alert`)."""
    context = context or {}
    dag_run = context.get("dag_run") or {}
    deadline = (context.get("deadline") or {}).get("deadline_time")
    fields = {k: kwargs.get(k) for k in ("resource_code", "resource_name", "provider", "provider_code")}
    return build_payload(
        PROVIDER_OVERDUE, dag_id=dag_run.get("dag_id"), run_id=dag_run.get("dag_run_id") or dag_run.get("run_id"),
        data_interval_start=dag_run.get("data_interval_start"), data_interval_end=dag_run.get("data_interval_end"),
        deadline=deadline, error=(f"{kwargs.get('provider')}: data for this interval not loaded by the deadline "
                                  f"(update cycle {kwargs.get('update_cycle')}, "
                                  f"grace {kwargs.get('overdue_after_hours')} h); run state: {dag_run.get('state')}"),
        update_cycle=kwargs.get("update_cycle"), overdue_after_hours=kwargs.get("overdue_after_hours"),
        **fields)


def _aware(value) -> dt.datetime | None:
    """An ISO string or datetime as an aware datetime (naive = UTC); None when absent or unparsable."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def created_after_deadline(context: dict | None) -> bool:
    """Whether the run of a missed deadline was created (its ``queued_at`` or ``run_after``, the
    later of the two) after the deadline had already passed: a backfill, a manual re-run of an old
    interval, a catch-up after the scheduler was down. Such a deadline is missed at creation and
    says nothing about the provider. Also true for run type ``backfill``."""
    context = context or {}
    dag_run = context.get("dag_run") or {}
    if dag_run.get("run_type") == "backfill":
        return True
    deadline = _aware((context.get("deadline") or {}).get("deadline_time"))
    created = [t for t in (_aware(dag_run.get("queued_at")), _aware(dag_run.get("run_after"))) if t is not None]
    return deadline is not None and bool(created) and max(created) >= deadline


def _run_load_status(dag_id: str | None, run_id: str | None) -> str | None:
    """The latest ``ops.load_run.status`` of a DAG run (by dag_id + run_id; the warehouse through
    connection ``warehouse``), or None when there is none or it cannot be read (logged)."""
    if not dag_id or not run_id:
        return None
    try:
        from baselib.warehouse import connections

        conn = connections.connect(connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT status FROM ops.load_run WHERE dag_id = %s AND run_id = %s "
                            "ORDER BY load_id DESC LIMIT 1", (dag_id, run_id))
                row = cur.fetchone()
            return row[0] if row else None
        finally:
            conn.rollback()
            conn.close()
    except Exception as exc:
        from baselib.security.redaction import describe

        log.warning("alerts: could not read the load record of %s %s: %s", dag_id, run_id, describe(exc))
        return None


async def overdue_callback(context: dict | None = None, **kwargs) -> list[str]:
    """The DeadlineAlert's AsyncCallback: send :func:`overdue_payload`; returns the channels that
    delivered (the triggerer records it). Sends nothing for a run created after its deadline had
    passed (:func:`created_after_deadline`: backfills, manual re-runs of old intervals; a failure of
    such a run is alerted by :class:`FailureNotifier`). A run whose load record is ``blocked`` (the
    provider delivered on time; the platform's quality checks rejected the data) is sent as kind
    ``load_blocked_overdue`` — the interval's data is still missing at the deadline, but it is not
    the provider's lateness. Never raises."""
    import asyncio

    dag_run = (context or {}).get("dag_run") or {}
    dag_id, run_id = dag_run.get("dag_id"), dag_run.get("dag_run_id") or dag_run.get("run_id")
    try:
        if created_after_deadline(context):
            log.info("alerts: %s %s was created after its deadline had passed (run type %s); no overdue alert",
                     dag_id, run_id, dag_run.get("run_type"))
            return []
        status = await asyncio.to_thread(_run_load_status, dag_id, run_id)
        payload = overdue_payload(context, **kwargs)
        if status == "blocked":
            zh, en = KIND_TITLES[LOAD_BLOCKED_OVERDUE]
            payload = {**payload, "kind": LOAD_BLOCKED_OVERDUE, "title": {"zh": zh, "en": en},
                       "error": f"{kwargs.get('provider')} delivered, but the load was blocked by quality checks "
                                f"(see the load_blocked alert and its quality report); this interval's data is "
                                f"still not loaded at the deadline"}
    except Exception as exc:
        from baselib.security.redaction import describe

        log.error("alerts: could not build the overdue alert: %s", describe(exc))
        return []
    return await send_async(payload)
