"""The daily ``sharing_reconcile`` DAG run through Airflow itself (``airflow dags test``), on a
warehouse with a loaded resource, a consumers file of the test's own consumers, and applications
inserted by SQL as a console would have recorded them.

One run: the consumers' LOGIN roles get the passwords from the environment and from an Airflow
Variable; the approved application becomes a view the consumer logs in to and reads (masked, with a
hashed row key), its read measured by the next run's collect_usage; a grant made by hand before the
run is gone; an application whose period ended is
expired and its view dropped; every change is in ``sharing.grant_change`` under the run's id; the
demo's summary tells how the consumer logs in. A second run changes and records nothing."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import subprocess
import zoneinfo
from pathlib import Path

import psycopg2.errors
import pytest
from psycopg2 import sql
from psycopg2.extensions import parse_dsn

from tests.conftest import DAY1
from tests.e2e.airflow_cli import airflow, airflow_env, migrate
from tests.integration.pipeline_helpers import fill_source, run
from tests.integration.sharing_fixtures import sharing_consumers  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.airflow

ITEMS = ["id_number", "name", "sex", "division_code"]   # id_number: the key, personal; name: personal, masked
VIEW = "base_population__person"
READS = 3   # tax reads its view this often: pg_stat_statements evicts its least-used entries first


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    migrate(airflow_env(home))
    return home


def _dags_test(env: dict, day: dt.date) -> subprocess.CompletedProcess:
    return subprocess.run([airflow(), "dags", "test", "sharing_reconcile", day.isoformat()], env=env,
                          capture_output=True, text=True, timeout=900, cwd=ROOT)


def _evictions(dbs) -> int:
    """pg_stat_statements_info.dealloc: how often the server has evicted statement statistics."""
    return dbs.scalar("SELECT dealloc FROM pg_stat_statements_info")


def _scram_matches(verifier: str, password: str) -> bool:
    """Whether a PostgreSQL SCRAM-SHA-256 verifier (pg_authid.rolpassword) was made from ``password``."""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier or "")
    if not match:
        return False
    iterations, salt, stored_key, server_key = match.groups()
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return (base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key
            and base64.b64encode(hmac.new(salted, b"Server Key", hashlib.sha256).digest()).decode() == server_key)


def _insert_application(cur, consumer_code: str, resource, start: dt.date, end: dt.date) -> int:
    """An approved 有条件共享 application without personal approval, as the CLI would have stored it."""
    decided = dt.datetime.combine(start, dt.time(9), SHANGHAI) - dt.timedelta(days=1)
    cur.execute(
        "INSERT INTO sharing.application (consumer_code, resource_code, provider_code, sharing_type, items, "
        "personal, purpose, legal_basis, period_start, period_end, status, submitted_at, response_limit_days, "
        "due_at, decided_at, decided_by, decision_reason, response_working_days) "
        "VALUES (%s, %s, %s, %s, %s, false, '税源核查', '《中华人民共和国税收征收管理法》', %s, %s, 'approved', %s, 5, %s, "
        "%s, 'provider:test', 'approved for the test', 1) RETURNING application_id",
        (consumer_code, resource.code, resource.provider.code, resource.sharing.type.value, ITEMS, start, end,
         decided - dt.timedelta(days=1), decided + dt.timedelta(days=6), decided))
    return cur.fetchone()[0]


def test_sharing_reconcile_dag_runs_through_airflow(dbs, population, sharing_consumers, airflow_home,  # noqa: F811
                                                    monkeypatch):
    from baselib.sharing import consumers as consumer_roles
    from baselib.records import summary
    from baselib.sharing import grants, usage

    fill_source(dbs, rows=300)
    assert run(population, DAY1)["status"] == "success"
    declared = sharing_consumers("tax", "relief")
    tax, relief = declared.code("tax"), declared.code("relief")
    today = dt.datetime.now(SHANGHAI).date()

    # before the run: the roles as of an earlier reconcile, when relief's application was still in
    # its period (its view exists), then a grant and a membership made by hand for tax
    conn = dbs.warehouse()
    try:
        consumer_roles.apply_roles(conn, consumer_roles.load(), run_id="setup")
        with conn.cursor() as cur:
            active = _insert_application(cur, tax, population, today - dt.timedelta(days=1),
                                         today + dt.timedelta(days=30))
            ended = _insert_application(cur, relief, population, today - dt.timedelta(days=30),
                                        today - dt.timedelta(days=2))
        conn.commit()
        grants.reconcile(conn, run_id="setup",
                         now=dt.datetime.combine(today - dt.timedelta(days=5), dt.time(12), SHANGHAI))
        with conn.cursor() as cur:
            cur.execute(sql.SQL("GRANT USAGE ON SCHEMA ops TO {0}; GRANT SELECT ON ops.load_run TO {0}; "
                                "GRANT base_population_reader TO {0}").format(sql.Identifier(declared.role("tax"))))
        conn.commit()
    finally:
        conn.close()
    assert dbs.scalar("SELECT to_regclass(%s) IS NOT NULL", (f"share_{relief}.{VIEW}",))
    before = dbs.scalar("SELECT max(change_id) FROM sharing.grant_change")

    # relief's password comes from the Airflow Variable of the same name (AIRFLOW_VAR_…: the
    # environment secrets backend, read through the Task SDK), not from the plain variable
    relief_variable = f"BASELIB_CONSUMER_{relief.upper()}_PASSWORD"
    relief_password = "via-variable-" + declared.passwords[relief][:12]
    env = airflow_env(airflow_home, **{f"AIRFLOW_VAR_{relief_variable}": relief_password})
    env.pop(relief_variable)
    done = _dags_test(env, today)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    # every change of the run carries its run id
    changes = dbs.query("SELECT run_id, consumer_code, action, object, detail, application_id "
                        "FROM sharing.grant_change WHERE change_id > %s ORDER BY change_id", (before,))
    assert changes, "the run recorded no change"
    run_ids = {c[0] for c in changes}
    assert len(run_ids) == 1 and next(iter(run_ids)).startswith("manual__"), run_ids
    assert any(c[1] == relief and c[2] == "drop_view" and c[3] == f"share_{relief}.{VIEW}" and c[5] == ended
               for c in changes), changes
    assert any(c[1] == tax and c[2] == "revoke" and "ops.load_run" in c[3] for c in changes), changes
    assert any(c[1] == tax and "base_population_reader" in (c[3] + (c[4] or "")) for c in changes), changes
    assert any(c[1] == relief and c[2] == "set_password" for c in changes), changes

    # the ended application is expired and its view gone; the active one still approved
    assert dbs.query("SELECT application_id, status FROM sharing.application ORDER BY application_id") == \
        [(active, "approved"), (ended, "expired")]
    assert dbs.scalar("SELECT to_regclass(%s)", (f"share_{relief}.{VIEW}",)) is None

    # the passwords the run set: tax's from the environment, relief's from the Airflow Variable
    secrets_by_role = dict(dbs.query("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)",
                                     ([declared.role("tax"), declared.role("relief")],)))
    assert _scram_matches(secrets_by_role[declared.role("tax")], declared.passwords[tax])
    assert _scram_matches(secrets_by_role[declared.role("relief")], relief_password)

    # tax logs in and reads its view: row key first, the approved items, masked where personal
    current = dbs.query("SELECT id_number, name FROM base_population.person_current")
    conn = dbs.warehouse()
    try:
        unavailable = usage.unavailable_reason(conn)
    finally:
        conn.close()
    evicted_before = None if unavailable else _evictions(dbs)
    as_tax = declared.login("tax")
    try:
        with as_tax.cursor() as cur:
            for _ in range(READS):
                cur.execute(f"SELECT * FROM {VIEW} ORDER BY _row_key")
            columns = [d.name for d in cur.description]
            rows = cur.fetchall()
            # the hand-made grant and membership are gone
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT count(*) FROM ops.load_run")
            cur.execute("SELECT pg_has_role(current_user, 'base_population_reader', 'MEMBER')")
            member = cur.fetchone()[0]
    finally:
        as_tax.close()
    assert columns == ["_row_key", *ITEMS, "_loaded_at"]
    assert len(rows) == len(current) > 0
    raw_ids, raw_names = {r[0] for r in current}, {r[1] for r in current}
    assert all(re.fullmatch(r"[0-9a-f]{64}", r[0]) for r in rows)            # a hashed key, not the id
    assert not {r[1] for r in rows} & raw_ids and not {r[2] for r in rows} & raw_names   # masked
    assert member is False
    conn = dbs.warehouse()
    try:
        with conn.cursor() as cur:
            assert grants.resolve_row_key(cur, tax, population, rows[0][0]) in raw_ids
        # the demo's summary: how tax logs in, what it reads, and whether this server checks passwords
        monkeypatch.delenv("BASELIB_CONSUMER_PASSWORDS_FILE", raising=False)
        text = summary.render(conn, [population], dbs.warehouse_uri)
        # where the password is kept, when a passwords file is named (make demo's consumers.env)
        kept = airflow_home / "consumers.env"
        kept.write_text(f"BASELIB_CONSUMER_{tax.upper()}_PASSWORD=not-printed\n", encoding="utf-8")
        monkeypatch.setenv("BASELIB_CONSUMER_PASSWORDS_FILE", str(kept))
        kept_text = summary.render(conn, [population], dbs.warehouse_uri)
    finally:
        conn.close()
    assert f"password: BASELIB_CONSUMER_{tax.upper()}_PASSWORD in {kept}" in kept_text
    assert "not-printed" not in kept_text
    assert f"password: the environment variable BASELIB_CONSUMER_{tax.upper()}_PASSWORD" in text
    params = parse_dsn(dbs.warehouse_uri)
    where = " ".join(f"{k}={params[k]}" for k in ("host", "port", "dbname") if params.get(k))
    assert f'psql "{where} user=consumer_{tax}"' in text
    assert f"share_{tax}.{VIEW}" in text and f"share_{relief}: no views" in text
    assert f"BASELIB_CONSUMER_{tax.upper()}_PASSWORD" in text
    checked = summary.password_enforced(dbs.warehouse_uri, declared.role("tax"))
    assert checked is not None
    assert ("a wrong password is refused" in text) is checked and ("Passwords: NOT checked" in text) is not checked

    # a second run finds everything in line: it changes and records nothing
    last = dbs.scalar("SELECT max(change_id) FROM sharing.grant_change")
    again = _dags_test(env, today)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert dbs.query("SELECT action, object FROM sharing.grant_change WHERE change_id > %s", (last,)) == []

    # collect_usage: tax's reads of its view (made between the runs) are measured by the second run,
    # when this server has pg_stat_statements; without it, the task logs why and succeeds
    if unavailable is None:
        measured = dbs.query("SELECT consumer_code, resource_code, queries, rows_read FROM evaluation.sharing_usage")
        assert [r[0].startswith("manual__") for r in dbs.query("SELECT run_id FROM sharing.usage_collection")] == \
            [True, True]
        # a manual run (airflow dags test <today>) files the use so far of its logical date's day;
        # a scheduled midnight run files the day that ended (tests/test_dag_integrity.py)
        assert dbs.query("SELECT DISTINCT usage_date FROM sharing.usage_collection") == [(today,)]
        assert {r[0] for r in dbs.query("SELECT usage_date FROM evaluation.sharing_usage")} <= {today}
        if _evictions(dbs) == evicted_before:
            assert measured == [(tax, population.code, READS, READS * len(rows))]
        else:  # the server evicted statistics meanwhile (other databases' statements): never more than was read
            assert all(r[:2] == (tax, population.code) and r[2] <= READS and r[3] <= READS * len(rows)
                       for r in measured), measured
    else:
        assert "measured use not collected" in again.stdout + again.stderr
