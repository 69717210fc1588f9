"""Publishing the stored indicators of a period to the evaluation system (考核评价系统).

:func:`publish` sends each ``evaluation.indicator`` row of a period, as the payload of
:func:`baselib.evaluation.payload.build`, with ``PUT {base}{endpoint}`` (``publish`` in
include/evaluation/indicators.yaml: endpoint, timeout, attempts, backoff) to the HTTP connection
``evaluation_api`` (``AIRFLOW_CONN_EVALUATION_API`` or Airflow's connections: ``http://:<bearer
token>@host:port/``; the password is the token).

- Idempotent: the server keeps one entry per key (department, period kind, period); sending the
  same payload again is answered ``unchanged``, a changed one ``replaced``.
- Transient failures (connection errors, timeouts, HTTP 408, 429 and 5xx) are retried with
  exponential backoff (``backoff_seconds``, doubled per attempt, at most ``backoff_cap_seconds``;
  a ``Retry-After`` is waited for, up to the cap), ``attempts`` times in all. Any other 4xx (401 a
  wrong token, 422 a payload the system refuses) is a refusal: not retried.
- Every attempt is a row of ``evaluation.publish_attempt``, committed on its own (``retrying``,
  ``failed``, ``refused`` or ``published``); the final state of each key is upserted into
  ``evaluation.publication`` (``published``, ``refused`` or ``failed``, attempts, HTTP status, error).
  Errors are redacted (:mod:`baselib.security.redaction`) and never hold the token.
- Single flight per key: a transaction-scoped advisory lock on the key is taken, then the key's
  row is read AGAIN under it (what is sent and recorded is the newest committed row, never one read
  before another publisher's recompute), and the lock is held until the key's final state is
  committed; a second publisher of the same key waits, then sends (and is answered ``unchanged``).
  A key whose row was removed meanwhile is skipped (not sent, not in the results).
- Any failure building or sending a request that is not a transient transport error (a bad URL,
  an unencodable header…) is recorded as a ``failed`` attempt with a redacted error and not
  retried. A token that cannot be an HTTP header value (not printable ASCII) is refused before
  anything is sent: :class:`ConfigurationError` naming the connection, never the token.
- Every key is tried; then :class:`PublishError` names the keys that were refused or failed (so an
  Airflow task fails and is retried), with everything recorded.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import logging
import re
import sys
from dataclasses import dataclass
from urllib.parse import quote

from baselib.errors import BaselibError
from baselib.evaluation import payload as payloads
from baselib.evaluation.periods import Period
from baselib.security.redaction import MASK, redact

log = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({408, 429})   # and every 5xx


class ConfigurationError(BaselibError, LookupError):
    """The connection ``evaluation_api`` cannot be used as configured (its token cannot be an HTTP
    header value). The message names the connection, never the token."""


_HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")


def check_token(conn_id: str, token: str | None) -> str:
    """``token`` when it can be sent as ``Authorization: Bearer <token>`` (printable ASCII, no
    spaces or control characters). Raises :class:`ConfigurationError` naming ``conn_id`` (never the
    token) when it is empty or cannot."""
    if not token:
        raise ConfigurationError(f"the connection {conn_id!r} has no token: give it as the password "
                                 f"(http://:<token>@host:port/)")
    if not _HEADER_TOKEN.fullmatch(token):
        raise ConfigurationError(f"the token of the connection {conn_id!r} cannot be sent in an HTTP header: "
                                 f"once decoded from the connection URI it must be printable ASCII without spaces "
                                 f"or control characters; set a token the evaluation system issued")
    return token


class PublishError(BaselibError):
    """Some keys of a period were refused or failed. ``keys``: ``department/kind/period`` of each;
    ``results``: every key's result dict (as :func:`publish` returns them)."""

    def __init__(self, message: str, keys: list[str], results: list[dict]):
        super().__init__(message)
        self.keys = keys
        self.results = results


@dataclass(frozen=True)
class Settings:
    """``publish`` of include/evaluation/indicators.yaml."""

    conn_id: str
    endpoint: str
    timeout_seconds: float
    attempts: int
    backoff_seconds: float
    backoff_cap_seconds: float


def settings() -> Settings:
    """The ``publish`` section of the indicators configuration
    (:func:`baselib.evaluation.config.load_config`). Raises CatalogError naming a bad value."""
    from baselib.errors import CatalogError
    from baselib.evaluation.config import config_path, load_config

    section = load_config()["publish"]
    try:
        result = Settings(str(section["conn_id"]), str(section["endpoint"]), float(section["timeout_seconds"]),
                          int(section["attempts"]), float(section["backoff_seconds"]),
                          float(section["backoff_cap_seconds"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{config_path()}: publish: {exc!r}") from None
    if result.attempts < 1 or result.timeout_seconds <= 0 or result.backoff_seconds < 0 or result.backoff_cap_seconds < 0:
        raise CatalogError(f"{config_path()}: publish: attempts >= 1, timeout_seconds > 0 and backoffs >= 0 "
                           f"are needed")
    for field in ("department_code", "period_kind", "period"):
        if "{" + field + "}" not in result.endpoint:
            raise CatalogError(f"{config_path()}: publish.endpoint must name {{{field}}}")
    return result


class _Transient(Exception):
    """A failure worth another attempt."""

    def __init__(self, http_status: int | None, error: str, retry_after: float | None = None):
        super().__init__(error)
        self.http_status, self.error, self.retry_after = http_status, error, retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value.strip()))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
        return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
    return None


def _clean(text: str, token: str | None) -> str:
    text = redact(text or "")
    if token:
        for form in {token, quote(token, safe="")}:
            text = text.replace(form, MASK)
    return text[:2000]


def _server_error(response) -> str:
    try:
        body = response.json()
        detail = body.get("error") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    return str(detail or response.text[:300] or response.reason_phrase)


def _outcome(response) -> str | None:
    """``created``/``replaced``/``unchanged`` from a success answer (None when it does not say)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("status") if isinstance(body, dict) else None


def _key(row: dict) -> str:
    return f"{row['department_code']}/{row['period_kind']}/{row['period']}"


def _wait(cfg: Settings):
    def wait(retry_state) -> float:
        backoff = min(cfg.backoff_cap_seconds, cfg.backoff_seconds * 2 ** (retry_state.attempt_number - 1))
        exc = retry_state.outcome.exception()
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            backoff = max(backoff, min(exc.retry_after, cfg.backoff_cap_seconds))
        return backoff

    return wait


def _publish_key(client, base_url: str, token: str, cfg: Settings, row: dict, run_id: str | None,
                 record_conn) -> dict | None:
    """Send one key's payload with retries: ``row`` names the key (department_code, period_kind,
    period); its row is read again once the key's advisory lock is held, and THAT row is sent and
    recorded. Every attempt is recorded through ``record_conn`` (autocommit), the final state under
    the lock. Returns the key's result dict, or None when the key's row no longer exists."""
    import psycopg2.extras

    from baselib.warehouse import connections, sqlfiles

    key = _key(row)
    ident = {"department_code": row["department_code"], "period_kind": row["period_kind"], "period": row["period"]}
    lock_conn = connections.connect("warehouse")
    try:
        with lock_conn.cursor() as cur:
            cur.execute(sqlfiles.text("queries/evaluation_pub_lock"), {"key": key})
        # under the lock: the newest committed row (READ COMMITTED: this statement sees every commit
        # made before it, including a recompute another publisher has already sent)
        with lock_conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sqlfiles.text("queries/evaluation_pub_row"), ident)
            fresh = cur.fetchone()
        if fresh is None:
            lock_conn.rollback()
            log.warning("publish %s: its indicators were removed meanwhile: skipped", key)
            return None
        result = _send_locked(client, base_url, token, cfg, dict(fresh), run_id, record_conn, lock_conn)
        lock_conn.commit()   # releases the key's lock
    finally:
        lock_conn.close()
    return result


def _send_locked(client, base_url: str, token: str, cfg: Settings, row: dict, run_id: str | None,
                 record_conn, lock_conn) -> dict:
    """Send ``row`` (read under its key's lock, held by ``lock_conn``) with retries and upsert its
    final state on ``lock_conn`` (not committed here). Returns the key's result dict."""
    import httpx
    import tenacity

    from baselib.warehouse import sqlfiles

    body = payloads.build(row)
    sha256 = payloads.digest(body)
    key = _key(row)
    url = base_url + cfg.endpoint.format(**{k: quote(str(row[k]), safe="") for k in
                                            ("department_code", "period_kind", "period")})
    ident = {"department_code": row["department_code"], "period_kind": row["period_kind"], "period": row["period"]}
    state = {"attempts": 0, "http_status": None, "error": None, "outcome": None}

    def record(attempt: int, status: str, http_status: int | None, error: str | None) -> None:
        with record_conn.cursor() as cur:
            cur.execute(sqlfiles.text("queries/evaluation_pub_attempt"),
                        {**ident, "run_id": run_id, "attempt": attempt, "status": status,
                         "http_status": http_status, "error": error, "payload_sha256": sha256})
        (log.info if status == "published" else log.warning)(
            "publish %s attempt %d: %s%s%s", key, attempt, status, f" HTTP {http_status}" if http_status else "",
            f" ({error})" if error else "")

    def once() -> str:
        attempt = state["attempts"] = state["attempts"] + 1
        last = attempt >= cfg.attempts
        try:
            response = client.put(url, content=payloads.canonical(body),
                                  headers={"Authorization": f"Bearer {token}",
                                           "Content-Type": "application/json; charset=utf-8"})
        except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:   # cannot be sent: no retry
            error = _clean(f"{type(exc).__name__}: PUT {url}: the request cannot be sent: {exc}", token)
            state.update(http_status=None, error=error)
            record(attempt, "failed", None, error)
            return "failed"
        except httpx.TransportError as exc:   # connection refused or reset, timeouts, remote protocol errors
            error = _clean(f"{type(exc).__name__}: PUT {url}: {exc}", token)
            state.update(http_status=None, error=error)
            record(attempt, "failed" if last else "retrying", None, error)
            raise _Transient(None, error) from None
        except Exception as exc:   # building the request failed (bad URL, unencodable header, …): recorded
            error = _clean(f"{type(exc).__name__}: PUT {url}: the request cannot be built or sent: {exc}", token)
            state.update(http_status=None, error=error)
            record(attempt, "failed", None, error)
            return "failed"
        status = response.status_code
        state["http_status"] = status
        if 200 <= status < 300:
            state.update(error=None, outcome=_outcome(response))
            record(attempt, "published", status, None)
            return "published"
        error = _clean(f"HTTP {status} from PUT {url}: {_server_error(response)}", token)
        state["error"] = error
        if status in TRANSIENT_STATUSES or status >= 500:
            record(attempt, "failed" if last else "retrying", status, error)
            raise _Transient(status, error, _retry_after(response.headers.get("Retry-After")))
        if status == 401:
            error = state["error"] = error + " (check the token of the connection " + cfg.conn_id + ")"
        record(attempt, "refused", status, error)
        return "refused"

    try:
        final = tenacity.Retrying(stop=tenacity.stop_after_attempt(cfg.attempts), wait=_wait(cfg),
                                  retry=tenacity.retry_if_exception_type(_Transient), reraise=True)(once)
    except _Transient:
        final = "failed"
    with lock_conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/evaluation_pub_upsert"),
                    {**ident, "status": final, "attempts": state["attempts"], "http_status": state["http_status"],
                     "error": state["error"], "payload_sha256": sha256})
    return {"key": key, **ident, "status": final, "attempts": state["attempts"], "http_status": state["http_status"],
            "outcome": state["outcome"], "error": state["error"], "payload_sha256": sha256}


def publish(period: Period, *, departments: list[str] | None = None, run_id: str | None = None) -> list[dict]:
    """Publish every stored ``evaluation.indicator`` row of ``period`` (only ``departments``' when
    given), opening its own warehouse connections. Returns one dict per key, by department code:
    ``{"key", "department_code", "period_kind", "period", "status" (published/refused/failed),
    "attempts", "http_status", "outcome" (created/replaced/unchanged when published), "error"
    (redacted), "payload_sha256"}``; ``[]`` when nothing is stored for the period.

    The rows read first only name the keys: each key's row is read again under its advisory lock
    and that row is what is sent and recorded (a key whose row was removed meanwhile is left out).

    Raises :class:`PublishError` (after every key was tried and recorded) naming the keys refused or
    failed; ``LookupError`` when the connection is not configured, :class:`ConfigurationError` (a
    LookupError) when it has no token or one that cannot be an HTTP header value (nothing sent or
    recorded); CatalogError for an unreadable configuration or a bad ``publish`` section."""
    import httpx
    import psycopg2.extras

    from baselib.sources.http_api import resolve_connection
    from baselib.warehouse import connections, schema, sqlfiles

    cfg = settings()
    http = resolve_connection(cfg.conn_id)
    check_token(cfg.conn_id, http.token)
    record_conn = connections.connect("warehouse")
    try:
        schema.ensure(record_conn, [])   # the evaluation tables exist on a fresh warehouse
        with record_conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sqlfiles.text("queries/evaluation_pub_rows"),
                        {"period_kind": period.kind, "period": period.label,
                         "departments": list(departments) if departments else None})
            rows = [dict(r) for r in cur.fetchall()]
        record_conn.commit()
        record_conn.autocommit = True   # each attempt row commits on its own
        if not rows:
            # info: the caller decides whether that is an error (the CLI: exit 1; the DAG: a warning)
            log.info("no indicators stored for %s %s%s: nothing to publish", period.kind, period.label,
                        f" (departments {', '.join(departments)})" if departments else "")
            return []
        with httpx.Client(timeout=cfg.timeout_seconds) as client:
            results = [r for r in (_publish_key(client, http.base_url, http.token, cfg, row, run_id, record_conn)
                                   for row in rows) if r is not None]
    finally:
        record_conn.close()
    bad = [r for r in results if r["status"] != "published"]
    for r in results:
        log.info("%s: %s after %d attempt(s)%s", r["key"], r["status"], r["attempts"],
                 f" ({r['outcome']})" if r["outcome"] else f": {r['error']}")
    if bad:
        raise PublishError(
            _clean(f"{len(bad)} of {len(results)} indicator set(s) of {period.kind} {period.label} not published: "
                   + "; ".join(f"{r['key']} {r['status']} after {r['attempts']} attempt(s): {r['error']}" for r in bad)
                   + " (evaluation publications --failed lists them)", http.token),
            [r["key"] for r in bad], results)
    return results


def _period(args) -> Period:
    from baselib.evaluation import periods

    if args.period:
        return periods.parse(args.period_kind, args.period)
    return periods.last_complete(args.period_kind)


def _line(r: dict) -> str:
    detail = r["outcome"] if r["status"] == "published" else r["error"]
    return f"{r['key']}: {r['status']} after {r['attempts']} attempt(s)" + (f" ({detail})" if detail else "")


def command_publish(args) -> None:
    """``evaluation publish [--period-kind K] [--period P] [--department D …]``: one line per key;
    exit 1 with ``error: …`` when a key was refused or failed, when nothing is stored for the period
    or for one of the ``--department`` codes (named as unknown when the period itself is stored; not
    published), for a period starting after now or ending before 2000 (nothing sent), or on bad input."""
    from baselib.evaluation import indicators

    try:
        period = _period(args)
        indicators.check_period(period)   # a future period or one before 2000: never sent
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    try:
        results = publish(period, departments=args.department, run_id="cli")
    except PublishError as exc:
        for r in exc.results:
            print(_line(r))
        sys.exit(f"error: {exc}")
    except (LookupError, BaselibError) as exc:
        sys.exit(f"error: {redact(str(exc))}")
    if not results and args.department:
        from baselib.warehouse import connections

        try:
            with connections.transaction() as conn:
                stored = {r["department_code"] for r in indicators.stored(conn, period)}
        except (LookupError, BaselibError) as exc:
            sys.exit(f"error: {redact(str(exc))}")
        if stored:   # the period is stored: it is the departments that have no row
            sys.exit(f"error: unknown department(s) {', '.join(sorted(set(args.department)))}: no indicators "
                     f"stored for them in {period.kind} {period.label} (stored: {len(stored)} departments, e.g. "
                     f"{', '.join(sorted(stored)[:5])}); nothing published")
    if not results:
        which = f" (departments {', '.join(args.department)})" if args.department else ""
        sys.exit(f"error: no indicators stored for {period.kind} {period.label}{which}: nothing published; "
                 f"run `evaluation compute` for it first")
    for r in results:
        print(_line(r))
    missing = sorted(set(args.department or ()) - {r["department_code"] for r in results})
    if missing:
        sys.exit(f"error: no indicators stored for {period.kind} {period.label} for department(s) "
                 f"{', '.join(missing)}: not published; run `evaluation compute` for them first")


def command_list(args) -> None:
    """``evaluation publications [--failed]``: each key's state, attempts, HTTP status and last error."""
    from baselib.warehouse import connections, schema, sqlfiles

    with connections.transaction() as conn:
        schema.ensure(conn, [])
        with conn.cursor() as cur:
            cur.execute(sqlfiles.text("queries/evaluation_pub_list"), {"failed_only": bool(args.failed)})
            rows = cur.fetchall()
    if not rows:
        print("no failed or refused publications" if args.failed else "nothing published yet")
    for dept, kind, period, status, attempts, http_status, error, sha256, published_at, updated_at, total in rows:
        when = f"published {published_at:%Y-%m-%d %H:%M:%S}Z" if published_at else "never published"
        print(f"{dept}/{kind}/{period}: {status}, {attempts} attempt(s) last time ({total} in all), "
              f"HTTP {http_status or '-'}, {when}, updated {updated_at:%Y-%m-%d %H:%M:%S}Z"
              + (f"\n    last error: {error}" if error else ""))
