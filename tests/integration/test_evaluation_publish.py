"""Publishing indicators to the simulated evaluation system, a real server process on loopback
started the way the demo starts it (:func:`baselib_simulators.evaluation_service.start`), on a real
warehouse: idempotency, replacement, retries of transient failures (injected with the server's
``_faults`` endpoint), refusals, a server that is down, and what ``evaluation.publication`` and
``evaluation.publish_attempt`` record. The token never appears in anything stored or raised."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from baselib.evaluation import payload as payloads
from baselib.evaluation import periods
from baselib.evaluation import publish as pub
from baselib.sources.http_api import parse_connection
from baselib_simulators import evaluation_service

ROOT = Path(__file__).resolve().parents[2]
PERIOD = periods.parse("month", "2026-10")


@pytest.fixture
def server(tmp_path, monkeypatch):
    """The evaluation system in its own process; AIRFLOW_CONN_EVALUATION_API points at it."""
    monkeypatch.delenv("AIRFLOW_CONN_EVALUATION_API", raising=False)
    monkeypatch.delenv(evaluation_service.PORT_VARIABLE, raising=False)
    home = tmp_path / "airflow_home"
    running = evaluation_service.start(home, store=tmp_path / "evaluation_store.json")
    monkeypatch.setenv("AIRFLOW_CONN_EVALUATION_API", running.uri)
    yield running
    evaluation_service.stop(running)


def _api(running, method: str, path: str, **kwargs) -> httpx.Response:
    conn = parse_connection(running.uri)
    return httpx.request(method, conn.base_url + path, headers={"Authorization": f"Bearer {conn.token}"},
                         timeout=10, **kwargs)


def _held(running) -> dict[str, dict]:
    response = _api(running, "GET", evaluation_service.ENDPOINT)
    assert response.status_code == 200, response.text
    return {item["key"]: item for item in response.json()["items"]}


def _faults(running, **body) -> None:
    response = _api(running, "POST", evaluation_service.FAULTS_ENDPOINT, json=body)
    assert response.status_code == 200, response.text


@pytest.fixture
def departments(dbs) -> list[str]:
    """A month of simulated platform history (PERIOD); the codes of the first two departments that
    provide catalog resources (the tests compute and publish theirs)."""
    from baselib.evaluation import indicators
    from baselib_simulators import history

    conn = dbs.warehouse()
    try:
        history.simulate(conn, PERIOD.start, PERIOD.end, seed=20261031)
        providers = [code for code, d in indicators.list_departments(conn).items() if d["resources"]]
    finally:
        conn.close()
    assert len(providers) >= 2, providers
    return sorted(providers)[:2]


def _compute(dbs, codes: list[str], weights: dict[str, float] | None = None) -> dict[str, dict]:
    """The indicators of ``codes`` for PERIOD computed and stored (baselib.evaluation.indicators),
    with the provision ``weights`` changed when given (the evaluation office re-weighting: the payload
    changes). Returns the payload publishing must send, by key."""
    from baselib.evaluation import config, indicators

    cfg = config.load_config()
    for name, weight in (weights or {}).items():
        cfg["provision"][name]["weight"] = weight
    conn = dbs.warehouse()
    try:
        rows = indicators.compute(conn, PERIOD, departments=codes, config=cfg)
    finally:
        conn.close()
    assert sorted(r["department_code"] for r in rows) == sorted(codes)
    return {f"{r['department_code']}/{r['period_kind']}/{r['period']}": payloads.build(r) for r in rows}


def _publications(dbs) -> dict[str, tuple]:
    rows = dbs.query("SELECT department_code || '/' || period_kind || '/' || period, status, attempts, http_status, "
                     "error, payload_sha256, published_at IS NOT NULL FROM evaluation.publication")
    return {r[0]: r[1:] for r in rows}


def _attempts(dbs, key: str) -> list[tuple]:
    dept, kind, period = key.split("/")
    return dbs.query("SELECT attempt, status, http_status, run_id FROM evaluation.publish_attempt "
                     "WHERE department_code = %s AND period_kind = %s AND period = %s ORDER BY attempt_id",
                     (dept, kind, period))


def _token(running) -> str:
    return parse_connection(running.uri).token


def _no_token_anywhere(dbs, running, *texts: str) -> None:
    token = _token(running)
    stored = dbs.query("SELECT coalesce(error, '') FROM evaluation.publication "
                       "UNION ALL SELECT coalesce(error, '') FROM evaluation.publish_attempt")
    assert all(token not in r[0] for r in stored)
    assert all(token not in t for t in texts)


def test_publish_twice_keeps_one_entry_per_key_and_a_changed_payload_replaces(dbs, server, departments):
    expected = _compute(dbs, departments)
    keys = sorted(expected)

    first = pub.publish(PERIOD, run_id="run-1")
    assert [(r["key"], r["status"], r["outcome"], r["attempts"], r["http_status"]) for r in first] == \
        [(k, "published", "created", 1, 201) for k in keys]
    second = pub.publish(PERIOD, run_id="run-2")
    assert [(r["key"], r["status"], r["outcome"], r["attempts"], r["http_status"]) for r in second] == \
        [(k, "published", "unchanged", 1, 200) for k in keys]

    held = _held(server)
    assert sorted(held) == keys                                      # one entry per key
    for key in keys:
        assert held[key]["payload"] == expected[key]
        assert held[key]["sha256"] == payloads.digest(expected[key])
        assert len(held[key]["received_at"]) == 2                    # received twice, kept once
        assert _attempts(dbs, key) == [(1, "published", 201, "run-1"), (1, "published", 200, "run-2")]
    assert _publications(dbs) == {k: ("published", 1, 200, None, payloads.digest(expected[k]), True) for k in keys}
    # the indicators step's stored digest is the one published
    assert dict(dbs.query("SELECT department_code || '/month/2026-10', payload_sha256 FROM evaluation.indicator")) == \
        {k: payloads.digest(expected[k]) for k in keys}
    assert all(held[k]["payload"]["department"]["code"] == k.split("/")[0] for k in keys)

    # a recomputed, changed payload replaces the held one; the unchanged one stays as it is
    changed = _compute(dbs, departments[:1], weights={"timeliness": 45})
    (changed_key,) = changed
    third = pub.publish(PERIOD, run_id="run-3")
    assert {r["key"]: r["outcome"] for r in third} == {k: "replaced" if k == changed_key else "unchanged" for k in keys}
    held = _held(server)
    assert sorted(held) == keys
    assert held[changed_key]["payload"] == changed[changed_key] != expected[changed_key]
    assert _publications(dbs)[changed_key] == ("published", 1, 200, None, payloads.digest(changed[changed_key]), True)

    # only the named departments
    only = pub.publish(PERIOD, departments=departments[1:], run_id="run-4")
    assert [r["key"] for r in only] == keys[1:]
    # a period with nothing stored publishes nothing
    assert pub.publish(periods.parse("month", "2026-09")) == []


def test_transient_failures_are_retried_until_published(dbs, server, departments):
    expected = _compute(dbs, departments)
    first_key, second_key = sorted(expected)
    _faults(server, fail_next=2, status=503)
    results = pub.publish(PERIOD, run_id="run-1")
    assert [(r["key"], r["status"], r["attempts"]) for r in results] == \
        [(first_key, "published", 3), (second_key, "published", 1)]
    assert _attempts(dbs, first_key) == [(1, "retrying", 503, "run-1"), (2, "retrying", 503, "run-1"),
                                         (3, "published", 201, "run-1")]
    assert _attempts(dbs, second_key) == [(1, "published", 201, "run-1")]
    assert _publications(dbs)[first_key][:4] == ("published", 3, 201, None)
    assert sorted(_held(server)) == [first_key, second_key]

    # a Retry-After (429) is waited for, even when longer than the backoff
    cfg = pub.settings()
    retry_after = cfg.backoff_seconds + 1.0
    _compute(dbs, departments[:1], weights={"quality": 35})
    _faults(server, fail_next=1, status=429, retry_after=retry_after)
    started = time.monotonic()
    results = pub.publish(PERIOD, departments=departments[:1], run_id="run-2")
    assert time.monotonic() - started >= retry_after
    assert [(r["status"], r["attempts"], r["outcome"]) for r in results] == [("published", 2, "replaced")]
    assert _attempts(dbs, first_key)[-2:] == [(1, "retrying", 429, "run-2"), (2, "published", 200, "run-2")]


def test_failing_more_often_than_the_attempts_fails_the_key_then_a_later_publish_succeeds(dbs, server, departments):
    expected = _compute(dbs, departments)
    failing, other = sorted(expected)
    attempts = pub.settings().attempts
    _faults(server, fail_next=attempts, status=503)
    with pytest.raises(pub.PublishError) as raised:
        pub.publish(PERIOD, run_id="run-1")
    assert raised.value.keys == [failing]
    assert failing in str(raised.value) and other not in str(raised.value)
    assert _attempts(dbs, failing) == [(n, "retrying", 503, "run-1") for n in range(1, attempts)] + \
        [(attempts, "failed", 503, "run-1")]
    status, tries, http_status, error, sha, was_published = _publications(dbs)[failing]
    assert (status, tries, http_status, sha, was_published) == \
        ("failed", attempts, 503, payloads.digest(expected[failing]), False)
    assert "HTTP 503" in error and "injected fault" in error
    assert _publications(dbs)[other][:2] == ("published", 1)      # every key is tried
    assert sorted(_held(server)) == [other]
    _no_token_anywhere(dbs, server, str(raised.value))

    # the CLI lists the failed key with its last error
    listed = _cli(dbs, "publications", "--failed")
    assert listed.returncode == 0, listed.stderr
    assert f"{failing}: failed, {attempts} attempt(s) last time ({attempts} in all), HTTP 503" in listed.stdout
    assert other not in listed.stdout and "last error: HTTP 503" in listed.stdout

    # the next publish (the Airflow task's retry) succeeds and says so
    again = _cli(dbs, "publish", "--period", PERIOD.label, env={"AIRFLOW_CONN_EVALUATION_API": server.uri})
    assert again.returncode == 0, again.stderr
    assert f"{failing}: published after 1 attempt(s) (created)" in again.stdout
    assert f"{other}: published after 1 attempt(s) (unchanged)" in again.stdout
    assert _publications(dbs)[failing][:4] == ("published", 1, 201, None)
    assert sorted(_held(server)) == [failing, other]
    assert _cli(dbs, "publications", "--failed").stdout.strip() == "no failed or refused publications"


def test_a_wrong_token_and_an_invalid_payload_are_refused_without_retrying(dbs, server, departments, monkeypatch):
    expected = _compute(dbs, departments)
    keys = sorted(expected)
    wrong = "wrong-token-" + _token(server)[:6]
    base = parse_connection(server.uri).base_url
    monkeypatch.setenv("AIRFLOW_CONN_EVALUATION_API", f"http://:{wrong}@{base.removeprefix('http://')}/")
    with pytest.raises(pub.PublishError) as raised:
        pub.publish(PERIOD, run_id="run-1")
    assert raised.value.keys == keys
    for key in keys:
        assert _attempts(dbs, key) == [(1, "refused", 401, "run-1")]
        status, tries, http_status, error, *_ = _publications(dbs)[key]
        assert (status, tries, http_status) == ("refused", 1, 401)
        assert "check the token" in error and wrong not in error
    assert wrong not in str(raised.value)
    monkeypatch.setenv("AIRFLOW_CONN_EVALUATION_API", server.uri)
    assert _held(server) == {}

    # the system refuses a payload (422): recorded, not retried; the other key is published
    _faults(server, fail_next=1, status=422)
    with pytest.raises(pub.PublishError) as raised:
        pub.publish(PERIOD, run_id="run-2")
    assert raised.value.keys == keys[:1]
    assert _attempts(dbs, keys[0])[-1] == (1, "refused", 422, "run-2")
    assert _publications(dbs)[keys[0]][:3] == ("refused", 1, 422)
    assert _publications(dbs)[keys[1]][:3] == ("published", 1, 201)


def test_a_server_that_is_down_fails_after_the_retries_and_is_recorded(dbs, server, departments):
    expected = _compute(dbs, departments[:1])
    (key,) = expected
    evaluation_service.stop(server)
    attempts = pub.settings().attempts
    with pytest.raises(pub.PublishError) as raised:
        pub.publish(PERIOD, run_id="run-1")
    assert raised.value.keys == [key]
    assert _attempts(dbs, key) == [(n, "retrying", None, "run-1") for n in range(1, attempts)] + \
        [(attempts, "failed", None, "run-1")]
    status, tries, http_status, error, *_ = _publications(dbs)[key]
    assert (status, tries, http_status) == ("failed", attempts, None)
    assert "ConnectError" in error and parse_connection(server.uri).base_url in error
    _no_token_anywhere(dbs, server, str(raised.value))


def test_the_server_refuses_a_payload_for_another_key_or_malformed(server, tmp_path):
    row = {"department_code": "dept_public_security", "department_name": "公安局", "period_kind": "month",
           "period": "2026-10", "period_start": dt.date(2026, 10, 1), "period_end": dt.date(2026, 11, 1),
           "indicators": {}, "flags": {}, "score": None, "grade": None}
    body = payloads.build(row)
    assert _api(server, "PUT", "/api/v1/indicators/dept_tax/month/2026-10", json=body).status_code == 422
    assert _api(server, "PUT", "/api/v1/indicators/dept_public_security/month/2026-09", json=body).status_code == 422
    bad_end = {**body, "period": {**body["period"], "end": "2026-10-31"}}
    assert _api(server, "PUT", "/api/v1/indicators/dept_public_security/month/2026-10", json=bad_end).status_code == 422
    assert _api(server, "PUT", "/api/v1/indicators/dept_public_security/month/2026-10",
                content=b"{not json").status_code == 422
    assert _held(server) == {}
    ok = _api(server, "PUT", "/api/v1/indicators/dept_public_security/month/2026-10", json=body)
    assert (ok.status_code, ok.json()) == (201, {"status": "created", "sha256": payloads.digest(body)})
    # the store is a JSON file: a restarted server still holds it
    store = tmp_path / "evaluation_store.json"
    assert [i["key"] for i in json.loads(store.read_text(encoding="utf-8"))["items"]] == \
        ["dept_public_security/month/2026-10"]


def test_bad_input_is_an_error_and_writes_nothing(dbs, server, departments):
    _compute(dbs, departments[:1])
    done = _cli(dbs, "publish", "--period", "2026-13")
    assert done.returncode == 1 and done.stderr.startswith("error: a month is written like 2026-11")
    done = _cli(dbs, "publish", "--period", "2026-10", env={"AIRFLOW_CONN_EVALUATION_API": ""})
    assert done.returncode == 1 and "error: connection 'evaluation_api' is not configured" in done.stderr
    assert dbs.scalar("SELECT count(*) FROM evaluation.publish_attempt") == 0


def _cli(dbs, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "baselib.cli", "evaluation", *args], capture_output=True, text=True,
                          env=environ, cwd=ROOT, timeout=300)


def test_one_publisher_per_key_at_a_time(dbs, server, departments):
    """While another publisher holds a key (its advisory lock), publishing that key waits: nothing is
    sent or recorded until the holder commits."""
    import threading

    from baselib.warehouse import sqlfiles

    expected = _compute(dbs, departments[:1])
    (key,) = expected
    holder = dbs.warehouse()
    outcome: dict = {}
    try:
        with holder.cursor() as cur:
            cur.execute(sqlfiles.text("queries/evaluation_pub_lock"), {"key": key})
        worker = threading.Thread(target=lambda: outcome.update(results=pub.publish(PERIOD, run_id="waiting")))
        worker.start()
        worker.join(2.0)
        assert worker.is_alive()                       # waiting for the key
        assert _attempts(dbs, key) == [] and _held(server) == {}
    finally:
        holder.commit()                                # releases the lock
        holder.close()
    worker.join(60)
    assert [(r["key"], r["status"], r["outcome"]) for r in outcome["results"]] == [(key, "published", "created")]
    assert _attempts(dbs, key) == [(1, "published", 201, "waiting")]


def test_the_server_keeps_its_token_and_a_pinned_port_that_is_taken_fails_at_once(tmp_path, monkeypatch):
    import socket

    monkeypatch.delenv("AIRFLOW_CONN_EVALUATION_API", raising=False)
    home = tmp_path / "airflow_home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv(evaluation_service.PORT_VARIABLE, str(port))
        with pytest.raises(evaluation_service.ServerStartError) as raised:
            evaluation_service.start(home, store=tmp_path / "store.json", timeout_seconds=60)
    assert f"cannot listen on 127.0.0.1:{port}" in str(raised.value)
    assert evaluation_service.PORT_VARIABLE in str(raised.value)

    # the pinned port once free: the server listens there, with the checkout's token (kept in the home)
    running = evaluation_service.start(home, store=tmp_path / "store.json")
    try:
        conn = parse_connection(running.uri)
        assert conn.base_url == f"http://127.0.0.1:{port}"
        assert conn.token == (home / "evaluation_api.token").read_text(encoding="utf-8").strip()
        assert (home / "evaluation_api.token").stat().st_mode & 0o077 == 0
    finally:
        assert evaluation_service.stop(running)
    assert not evaluation_service.stop(running)      # already ended


# -- issue 12 review fixes (fix-publish): stale rows, unusable tokens, request failures, the server's input --

def _current_digest(dbs, code: str) -> str:
    import psycopg2.extras

    conn = dbs.warehouse()
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT department_code, department_name, period_kind, period, period_start, period_end, "
                        "indicators, flags, score, grade FROM evaluation.indicator WHERE department_code = %s "
                        "AND period_kind = %s AND period = %s", (code, PERIOD.kind, PERIOD.label))
            return payloads.digest(payloads.build(dict(cur.fetchone())))
    finally:
        conn.close()


def test_a_row_changed_or_removed_after_it_was_read_is_sent_as_it_is_now(dbs, server, departments, monkeypatch):
    """publish reads the period's rows first; each key's row is read again under its lock: a row
    recomputed in between is sent (and recorded) as it is now, one removed is skipped, unsent."""
    expected = _compute(dbs, departments)
    changed, removed = departments
    original = pub._publish_key
    seen = []

    def late(client, base_url, token, cfg, row, run_id, record_conn):
        seen.append(row["department_code"])
        if row["department_code"] == changed:
            dbs.query("UPDATE evaluation.indicator SET score = 33.5, grade = '差' WHERE department_code = %s "
                      "AND period_kind = %s AND period = %s RETURNING 1", (changed, PERIOD.kind, PERIOD.label))
        else:
            dbs.query("DELETE FROM evaluation.indicator WHERE department_code = %s AND period_kind = %s "
                      "AND period = %s RETURNING 1", (removed, PERIOD.kind, PERIOD.label))
        return original(client, base_url, token, cfg, row, run_id, record_conn)

    monkeypatch.setattr(pub, "_publish_key", late)
    results = pub.publish(PERIOD, run_id="late")
    assert seen == sorted(departments)
    current = _current_digest(dbs, changed)
    assert current != payloads.digest(expected[f"{changed}/month/2026-10"])
    key = f"{changed}/month/2026-10"
    assert [(r["key"], r["status"], r["outcome"], r["payload_sha256"]) for r in results] == \
        [(key, "published", "created", current)]
    assert {k: v["sha256"] for k, v in _held(server).items()} == {key: current}
    assert _publications(dbs)[key][4] == current
    assert f"{removed}/month/2026-10" not in _publications(dbs)
    assert _attempts(dbs, f"{removed}/month/2026-10") == []


@pytest.mark.parametrize("encoded", ["t%C3%B6ken-0123456789-secret", "tok%20en-0123456789-secret",
                                     "tok%0Aen-0123456789-secret", "tok%7Fen-0123456789-secret"])
def test_a_token_that_cannot_be_a_header_is_a_configuration_error(dbs, server, departments, monkeypatch, encoded):
    from urllib.parse import unquote

    _compute(dbs, departments[:1])
    base = parse_connection(server.uri).base_url
    monkeypatch.setenv("AIRFLOW_CONN_EVALUATION_API", f"http://:{encoded}@{base.split('://', 1)[1]}/")
    with pytest.raises(pub.ConfigurationError) as raised:
        pub.publish(PERIOD, run_id="bad-token")
    assert isinstance(raised.value, LookupError)
    assert "'evaluation_api'" in str(raised.value)
    assert unquote(encoded) not in str(raised.value) and "0123456789-secret" not in str(raised.value)
    assert dbs.scalar("SELECT count(*) FROM evaluation.publish_attempt") == 0
    assert _held(server) == {}


def test_a_request_that_cannot_be_built_is_a_recorded_failed_attempt_not_retried(dbs, server, departments):
    """Past the token check (called directly): httpx cannot encode the header. The key fails after
    one attempt, recorded with a redacted error; nothing escapes."""
    import httpx

    from baselib.warehouse import connections

    expected = _compute(dbs, departments[:1])
    (key,) = expected
    row = {"department_code": departments[0], "period_kind": PERIOD.kind, "period": PERIOD.label}
    token = "t\u00f6ken-0123456789-secret"
    record_conn = connections.connect("warehouse")
    record_conn.autocommit = True
    try:
        with httpx.Client(timeout=5) as client:
            result = pub._publish_key(client, parse_connection(server.uri).base_url, token, pub.settings(), row,
                                      "unbuildable", record_conn)
    finally:
        record_conn.close()
    assert (result["status"], result["attempts"], result["http_status"]) == ("failed", 1, None)
    assert result["error"].startswith("UnicodeEncodeError: PUT ")
    assert _attempts(dbs, key) == [(1, "failed", None, "unbuildable")]
    assert _publications(dbs)[key][:3] == ("failed", 1, None)
    assert token not in result["error"] and "0123456789-secret" not in result["error"]
    assert _held(server) == {}


def test_cli_publish_of_a_department_with_nothing_stored_is_an_error(dbs, server, departments):
    expected = _compute(dbs, departments[:1])
    done = _cli(dbs, "publish", "--period", "2026-10", "--department", departments[0],
                "--department", departments[1])
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == f"{departments[0]}/month/2026-10: published after 1 attempt(s) (created)\n"
    assert done.stderr == (f"error: no indicators stored for month 2026-10 for department(s) {departments[1]}: "
                           f"not published; run `evaluation compute` for them first\n")
    assert sorted(_held(server)) == sorted(expected)


@pytest.fixture
def local_server(tmp_path):
    running = evaluation_service.EvaluationServer("local-token-0123456789", tmp_path / "store.json").start()
    yield running
    running.stop()


def _exchange(running, request: bytes, wait: float = 3.0) -> tuple[int | None, bytes, bool]:
    """``request`` on a fresh connection: (status, answer, whether the server closed it)."""
    import socket

    host, port = running._httpd.server_address[:2]
    with socket.create_connection((host, port)) as conn:
        conn.settimeout(wait)
        conn.sendall(request)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
                chunk = conn.recv(65536)
                if not chunk:
                    return _first_status(answer), answer, True
                answer += chunk
            more = conn.recv(1)
            return _first_status(answer), answer, more == b""
        except socket.timeout:
            return _first_status(answer), answer, False


def _first_status(answer: bytes) -> int | None:
    first = answer.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) >= 2 and first[0].startswith(b"HTTP/") else None


PUT_LINE = b"PUT /api/v1/indicators/a/month/2026-10 HTTP/1.1\r\nHost: x\r\n"
AUTH = b"Authorization: Bearer local-token-0123456789\r\n"


@pytest.mark.parametrize("headers, status", [
    (b"Content-Length: -1\r\n", 400), (b"Content-Length: +5\r\n", 400), (b"Content-Length: 5x\r\n", 400),
    (b"Content-Length: \r\n", 400), (b"Content-Length: 0x10\r\n", 400),
    (b"Content-Length: 2\r\nContent-Length: 3\r\n", 400),
    (b"Transfer-Encoding: chunked\r\n", 411),
    (b"Content-Length: " + str(evaluation_service.MAX_BODY_BYTES + 1).encode() + b"\r\n", 413),
    (b"Content-Length: 99999999999999999999999\r\n", 413),
])
def test_the_server_judges_the_declared_body_from_its_headers_and_closes(local_server, headers, status):
    got, answer, closed = _exchange(local_server, PUT_LINE + AUTH + headers + b"\r\n{")
    assert (got, closed) == (status, True), answer[:300]
    assert local_server.store.items() == []


@pytest.mark.parametrize("auth", [b"", b"Authorization: Bearer wrong\r\n",
                                  b"Authorization: Bearer local-token-012345678\r\n",
                                  b"Authorization: Bearer local-token-0123456789x\r\n",
                                  b"Authorization: Bearer \xc3\xb6\r\n"])
def test_a_wrong_token_is_answered_401_before_the_body_is_read(local_server, auth):
    """A declared 5 MiB body that never comes: the 401 comes at once, the connection is closed."""
    got, answer, closed = _exchange(local_server, PUT_LINE + auth + b"Content-Length: 5242880\r\n\r\n{")
    assert (got, closed) == (401, True), answer[:300]
    got, _, closed = _exchange(local_server, b"POST /api/v1/_faults HTTP/1.1\r\nHost: x\r\n" + auth +
                               b"Content-Length: abc\r\n\r\n")
    assert (got, closed) == (401, True)


def test_the_server_keeps_a_connection_after_a_body_it_read(local_server):
    body = b"{not json"
    request = PUT_LINE + AUTH + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    got, answer, closed = _exchange(local_server, request)
    assert (got, closed) == (422, False), answer[:300]


@pytest.mark.parametrize("content", [b'{"items": [', b"[]", b'{"items": {}}', b'{"items": [{"nokey": 1}]}',
                                     b'{"items": [{"key": "a/month/2026-10"}]}', b"\xff\xfe not utf-8", b""])
def test_a_store_that_is_not_the_servers_is_refused_and_left_as_it_is(tmp_path, content):
    store = tmp_path / "store.json"
    store.write_bytes(content)
    with pytest.raises(evaluation_service.StoreError) as raised:
        evaluation_service.EvaluationServer("t", store)
    assert isinstance(raised.value, evaluation_service.ServerStartError)
    assert str(raised.value).startswith(f"{store}: not an evaluation system store (")
    assert store.read_bytes() == content
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(evaluation_service.StoreError):
        evaluation_service.Store(tmp_path / "dir.json")


@pytest.mark.parametrize("port", [-1, 65536, 10 ** 30])
def test_serve_on_a_port_out_of_range_is_refused_before_anything(tmp_path, port):
    with pytest.raises(evaluation_service.ServerStartError) as raised:
        evaluation_service.serve(tmp_path / "home", tmp_path / "ready", port=port, store=tmp_path / "store.json")
    assert str(raised.value) == f"--port {port}: a TCP port is 0..65535 (0: a free one)"
    assert not (tmp_path / "ready").exists() and not (tmp_path / "store.json").exists()
    assert not (tmp_path / "home").exists()
