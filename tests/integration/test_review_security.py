"""Review (issue 12, security and robustness): failing tests for defects found in the simulated
evaluation system, the new CLI commands and the scoring configuration. Each asserts the RIGHT
behaviour; see the report for the fix each one needs."""
from __future__ import annotations

import inspect
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from baselib_simulators import evaluation_service

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "review-token-0123456789abcdef"
STATISTICS = "11360000014500380R"  # 省统计局, a provider in the catalog


def cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "baselib.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT / "plugins"), **(env or {})})


def assert_clean_error(result: subprocess.CompletedProcess, *must_name: str) -> None:
    """``error: …`` on stderr, exit 1, no traceback."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    assert last.startswith("error: "), result.stderr
    for text in must_name:
        assert text in result.stderr, result.stderr


# -- the simulated evaluation system: bodies bounded, headers checked, token compared in constant time ----

@pytest.fixture
def eval_server(tmp_path):
    server = evaluation_service.EvaluationServer(TOKEN, tmp_path / "store.json").start()
    yield server
    server.stop()


def _raw(server, request: bytes, wait: float = 3.0) -> bytes:
    """Send ``request`` on a fresh connection (kept open) and return the first answer bytes, or
    b"TIMEOUT" when the server answers nothing within ``wait`` seconds."""
    host, port = server._httpd.server_address[:2]
    with socket.create_connection((host, port)) as conn:
        conn.settimeout(wait)
        conn.sendall(request)
        try:
            return conn.recv(4096)
        except socket.timeout:
            return b"TIMEOUT"


def _status(answer: bytes) -> int | None:
    first = answer.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) >= 2 and first[0].startswith(b"HTTP/") else None


def test_eval_server_negative_content_length_without_token_is_answered_not_read_to_eof(eval_server):
    """``Content-Length: -1`` made ``_body`` call ``rfile.read(-1)``: an UNAUTHENTICATED client keeps
    a server thread reading (and buffering) until it closes the connection: an unbounded body."""
    answer = _raw(eval_server, b"PUT /api/v1/indicators/a/month/2026-10 HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: -1\r\n\r\n{\"a\": 1}")
    assert answer != b"TIMEOUT", "the server kept reading a body of length -1 instead of answering"
    assert _status(answer) in (400, 401), answer[:200]


def test_eval_server_malformed_content_length_without_token_is_answered(eval_server):
    """``Content-Length: abc`` without a token raised ValueError in ``_authorised`` (its drain): the
    connection was dropped with no answer at all (and a traceback on the server's output)."""
    answer = _raw(eval_server, b"PUT /api/v1/indicators/a/month/2026-10 HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: abc\r\n\r\n{}")
    assert _status(answer) in (400, 401), answer[:200]


def test_eval_server_refuses_an_oversized_body_with_413_before_reading_it(eval_server):
    """A declared body over MAX_BODY_BYTES is read (10 MiB) and then judged as truncated JSON; the
    rest stays in the connection. It should be refused at once from the header: 413."""
    answer = _raw(eval_server, b"PUT /api/v1/indicators/a/month/2026-10 HTTP/1.1\r\nHost: x\r\n"
                               b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                               b"Content-Length: " + str(evaluation_service.MAX_BODY_BYTES + 1).encode()
                               + b"\r\n\r\n{")
    assert answer != b"TIMEOUT", "the server waited for 10 MiB instead of refusing the declared size"
    assert _status(answer) == 413, answer[:200]


def test_eval_server_compares_the_token_in_constant_time():
    """The bearer token is compared with ``==`` (short-circuits on the first differing byte).
    Timing cannot be asserted reliably in a test, so this checks the comparison used."""
    source = inspect.getsource(evaluation_service._handler_for)
    assert "compare_digest" in source, "the Authorization header is compared with ==, not hmac.compare_digest"


# -- bad input to the new CLI commands: error: …, exit 1, nothing written ---------------------------------

def test_quality_scores_unknown_provider_is_a_clean_error(dbs):
    """``quality scores --provider NOPE`` on a fresh warehouse ended in a psycopg2 traceback
    (relation ops.load_run does not exist); an unknown provider code must be refused by name, as
    ``quality export`` does."""
    result = cli("quality", "scores", "--provider", "NOPE", "--period", "2026-10")
    assert_clean_error(result, "NOPE")


def test_quality_scores_unknown_provider_is_refused_on_a_used_warehouse(dbs):
    """Once the warehouse has its tables, an unknown provider prints a table of dashes as if it
    were a provider with no loads, exit 0: a typo goes unnoticed."""
    from baselib.warehouse import schema

    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        conn.commit()
    finally:
        conn.close()
    result = cli("quality", "scores", "--provider", "NOPE", "--period", "2026-10")
    assert_clean_error(result, "NOPE")


@pytest.mark.parametrize("port", ["-3", "70000"])
def test_evaluation_serve_bad_port_is_a_clean_error(tmp_path, port):
    """``evaluation serve --port -3`` ended in an OverflowError traceback (only OSError is caught)."""
    home = tmp_path / "home"
    result = cli("evaluation", "serve", "--port", port, "--ready-file", str(tmp_path / "ready"),
                 env={"AIRFLOW_HOME": str(home), "BASELIB_EVALUATION_STORE": str(tmp_path / "store.json")},
                 timeout=60)
    assert_clean_error(result, port)
    assert not (tmp_path / "ready").exists()
    assert not (tmp_path / "store.json").exists()


def test_quality_export_to_an_existing_directory_is_a_clean_error_and_writes_nothing(dbs, tmp_path):
    """``--output X.xlsx`` where X.xlsx is a directory: the workbook is written to X.xlsx.part, then
    the rename fails with IsADirectoryError (traceback) and the .part file is left behind."""
    target = tmp_path / "out.xlsx"
    target.mkdir()
    result = cli("quality", "export", "--provider", STATISTICS, "--output", str(target))
    assert_clean_error(result, str(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xlsx"]
    assert list(target.iterdir()) == []


def test_quality_export_to_an_unwritable_place_is_a_clean_error(dbs, tmp_path):
    """An output folder that cannot be created (a file in the way): a traceback, not ``error: …``."""
    (tmp_path / "blocker").write_text("x")
    target = tmp_path / "blocker" / "out.xlsx"
    result = cli("quality", "export", "--provider", STATISTICS, "--output", str(target))
    assert_clean_error(result, "blocker")


# -- broken configuration files: an error naming the file and the key -------------------------------------

@pytest.mark.parametrize("text", ["weights: {normative: 1\n", "- just\n- a list\n", "weights: 5\ngrades: []\n"])
def test_broken_scoring_yaml_is_a_catalog_error_naming_the_file(tmp_path, text):
    """A YAML syntax error, a top-level list and a scalar ``weights`` escaped as yaml.YAMLError /
    AttributeError / TypeError, without the file's name."""
    from baselib.errors import CatalogError
    from baselib.quality import scoring

    path = tmp_path / "scoring.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        scoring.load_config(path)
    assert str(path) in str(caught.value)


def test_missing_scoring_file_is_a_catalog_error_naming_it(tmp_path):
    from baselib.errors import CatalogError
    from baselib.quality import scoring

    path = tmp_path / "absent.yaml"
    with pytest.raises(CatalogError) as caught:
        scoring.load_config(path)
    assert str(path) in str(caught.value)


def test_bad_scoring_weight_names_its_key(tmp_path):
    """``every weight must be a number >= 0`` does not say which: the key must be named."""
    from baselib.errors import CatalogError
    from baselib.quality import scoring

    path = tmp_path / "scoring.yaml"
    path.write_text("weights: {normative: 1, complete: 1, accurate: -2, consistent: 1, timely: 1, accessible: 1}\n"
                    "grades:\n  - {grade: A, min: 0.9}\n  - {grade: B, min: 0}\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        scoring.load_config(path)
    assert "accurate" in str(caught.value)


# -- report files keep the usual permissions ----------------------------------------------------------------

def test_trend_page_is_readable_like_any_written_file(dbs, tmp_path, population):
    """The trend page (and the per-load report and the yearly report, same pattern) is written with
    tempfile.mkstemp, whose file is mode 0600, then renamed: the page ends up readable by its
    owner only (before this change the report was written with the umask's mode, e.g. 0644), so a
    web server or a quality officer under another account cannot open it."""
    from baselib.quality import trend
    from baselib.warehouse import schema

    previous = os.umask(0o022)   # the usual umask: new files are 0644
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        page = trend.write(conn, population, tmp_path)
        conn.commit()
    finally:
        conn.close()
        os.umask(previous)
    assert oct(stat.S_IMODE(page.stat().st_mode)) == oct(0o644)



# -- returns: only what the provider itself delivered, unmasked -------------------------------------------

THEME = "201002/000001"          # 死亡后发放养老金核查清单: a theme (SQL model) over population + HR data
PLATFORM = "11360000014400996W"  # 省政务服务数据管理局, the theme's catalog provider
CITIZEN_ID = "36010219800101123X"
NAME = "张三丰"


def test_theme_rows_do_not_go_raw_into_the_platform_providers_return_workbook(dbs):
    """A theme resource (``sql_model``) is built by the platform from other providers' data: its
    quarantined rows hold the population's citizen_id (公安厅) and the HR department's name. The
    returns query takes every open entry whose catalog provider is the code asked for, so the
    theme's catalog provider receives these personal values unmasked in a workbook whose About
    sheet says it holds "only the data your organisation delivered". Personal data must be masked
    wherever shown to anyone but its provider: a theme row is not a delivery to return (or its
    personal items must be masked)."""
    import io

    import openpyxl

    from baselib.catalog.loader import find
    from baselib.catalog.publish import publish
    from baselib.quality import returns
    from baselib.warehouse import schema

    theme = find(THEME)
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        publish(conn, theme)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO ops.load_run (resource_code, dag_id, run_id, mode, status) "
                        "VALUES (%s, %s, 'review', 'full', 'success') RETURNING load_id", (THEME, theme.dag_id))
            load_id = cur.fetchone()[0]
            cur.execute(
                "INSERT INTO ops.quarantine (resource_code, load_id, last_load_id, record_key, source_row, "
                "failed_expectations, reason, row_fingerprint) VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, 'fp1')",
                (THEME, load_id, load_id, f"{CITIZEN_ID}/2026-10-01",
                 f'{{"citizen_id": "{CITIZEN_ID}", "name": "{NAME}", "pay_month": "2026-10-01", "amount": -5}}',
                 '[{"check": "amount_positive", "severity": "critical", "reason": "amount <= 0"}]',
                 "amount must be positive"))
        conn.commit()
        book, quarantine_ids, _ = returns.workbook(conn, PLATFORM)
        conn.rollback()
    finally:
        conn.close()
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    cells = [str(c.value) for sheet in openpyxl.load_workbook(buffer) for row in sheet.iter_rows() for c in row
             if c.value is not None]
    shown = "\n".join(cells)
    assert CITIZEN_ID not in shown, "another provider's citizen_id shown raw in the platform's return workbook"
    assert NAME not in shown, "another provider's personal name shown raw in the platform's return workbook"


# -- publishing: a token that cannot go into a header ---------------------------------------------------------

def test_publish_with_a_non_ascii_token_is_a_clean_error(dbs):
    """A connection whose token is not ASCII (``http://:t%C3%B6ken@…``): httpx raises
    UnicodeEncodeError while building the Authorization header. ``_publish_key`` catches only
    httpx.TransportError, so the error escapes ``publish`` (a traceback from the CLI, no attempt
    recorded, the other departments never tried). It must be a clear ``error: …`` naming the
    connection (or a recorded failure), never the token."""
    from baselib.evaluation import indicators, periods
    from baselib_simulators import history

    period = periods.parse("month", "2026-10")
    conn = dbs.warehouse()
    try:
        history.simulate(conn, period.start, period.end, seed=20261031)
        conn.commit()
        code = sorted(c for c, d in indicators.list_departments(conn).items() if d["resources"])[0]
        indicators.compute(conn, period, departments=[code])
        conn.commit()
    finally:
        conn.close()
    token = "t\u00f6ken-0123456789-secret"
    result = cli("evaluation", "publish", "--period", "2026-10",
                 env={"AIRFLOW_CONN_EVALUATION_API": "http://:t%C3%B6ken-0123456789-secret@127.0.0.1:9/"})
    assert_clean_error(result, "evaluation_api")
    assert token not in result.stderr + result.stdout
    assert "0123456789-secret" not in result.stderr + result.stdout



def test_evaluation_report_output_that_is_a_file_is_a_clean_error(dbs, tmp_path):
    """``evaluation report --output F`` where F is a file: NotADirectoryError traceback."""
    target = tmp_path / "afile"
    target.write_text("keep me", encoding="utf-8")
    result = cli("evaluation", "report", "--year", "2025", "--department", "platform", "--output", str(target))
    assert_clean_error(result, str(target))
    assert target.read_text(encoding="utf-8") == "keep me"


def test_evaluation_serve_with_a_corrupt_store_is_a_clean_error(tmp_path):
    """A store file that is not the server's JSON (a crash of another writer, a disk that filled):
    ``evaluation serve`` ends in a JSONDecodeError traceback instead of ``error: <file>: …``, and
    the file is left as it was (not overwritten)."""
    store = tmp_path / "store.json"
    store.write_text('{"items": [', encoding="utf-8")
    result = cli("evaluation", "serve", "--ready-file", str(tmp_path / "ready"),
                 env={"AIRFLOW_HOME": str(tmp_path / "home"), "BASELIB_EVALUATION_STORE": str(store)}, timeout=60)
    assert_clean_error(result, str(store))
    assert store.read_text(encoding="utf-8") == '{"items": ['
    assert not (tmp_path / "ready").exists()


# -- publishing: two publishers and a recompute racing --------------------------------------------------------

@pytest.fixture
def eval_process(tmp_path, monkeypatch):
    """The evaluation system in its own process, as the demo starts it; the connection points at it."""
    monkeypatch.delenv("AIRFLOW_CONN_EVALUATION_API", raising=False)
    monkeypatch.delenv(evaluation_service.PORT_VARIABLE, raising=False)
    running = evaluation_service.start(tmp_path / "airflow_home", store=tmp_path / "evaluation_store.json")
    monkeypatch.setenv("AIRFLOW_CONN_EVALUATION_API", running.uri)
    yield running
    evaluation_service.stop(running)


def test_a_slow_publisher_does_not_overwrite_newer_indicators_with_the_ones_it_read_earlier(dbs, eval_process,
                                                                                          monkeypatch):
    """``publish`` reads every key's row of ``evaluation.indicator`` first and takes each key's lock
    only when it comes to send it. When the period is recomputed and published by someone else in
    between (the DAG and an officer's ``evaluation compute && evaluation publish``), the slow
    publisher then sends the payload it read before: the evaluation system ends up holding stale
    indicators ("replaced"), and ``evaluation.publication`` records the stale digest as published.
    The row must be read under the key's lock (single flight per key)."""
    import httpx
    import psycopg2.extras

    from baselib.evaluation import indicators, periods
    from baselib.evaluation import payload as payloads
    from baselib.evaluation import publish as pub
    from baselib.sources.http_api import parse_connection
    from baselib_simulators import history

    period = periods.parse("month", "2026-10")
    conn = dbs.warehouse()
    try:
        history.simulate(conn, period.start, period.end, seed=20261031)
        conn.commit()
        code = sorted(c for c, d in indicators.list_departments(conn).items() if d["resources"])[0]
        indicators.compute(conn, period, departments=[code])
        conn.commit()
    finally:
        conn.close()

    original = pub._publish_key
    raced = []

    def slow_first(client, base_url, token, cfg, row, run_id, record_conn):
        if not raced:
            raced.append(row["department_code"])
            # meanwhile: the period is re-weighted/recomputed (here: its score changes) and published
            dbs.query("UPDATE evaluation.indicator SET score = 12.5, grade = '差' "
                      "WHERE department_code = %s AND period_kind = 'month' AND period = '2026-10' RETURNING 1",
                      (row["department_code"],))
            assert [r["status"] for r in pub.publish(period, run_id="other")] == ["published"]
        return original(client, base_url, token, cfg, row, run_id, record_conn)

    monkeypatch.setattr(pub, "_publish_key", slow_first)
    pub.publish(period, departments=[code], run_id="slow")
    assert raced == [code]

    conn = dbs.warehouse()
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT department_code, department_name, period_kind, period, period_start, period_end, "
                        "indicators, flags, score, grade FROM evaluation.indicator WHERE department_code = %s "
                        "AND period_kind = 'month' AND period = '2026-10'", (code,))
            current = payloads.digest(payloads.build(dict(cur.fetchone())))
            cur.execute("SELECT payload_sha256 FROM evaluation.publication WHERE department_code = %s "
                        "AND period_kind = 'month' AND period = '2026-10'", (code,))
            recorded = cur.fetchone()["payload_sha256"]
    finally:
        conn.close()
    api = parse_connection(eval_process.uri)
    items = httpx.get(api.base_url + evaluation_service.ENDPOINT, timeout=10,
                      headers={"Authorization": f"Bearer {api.token}"}).json()["items"]
    held = {i["key"]: i["sha256"] for i in items}
    assert held[f"{code}/month/2026-10"] == current, "the evaluation system holds the stale indicators"
    assert recorded == current
