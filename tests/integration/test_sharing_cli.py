"""``python -m baselib.cli sharing …`` as a subprocess against the test warehouse: every bad input
fails with exit status 1 and ``error: <the problem>`` on stderr, no traceback, and records nothing
(except a 不予共享 application, which is recorded as refused); and the happy path
consumers -> apply -> list -> approve -> show -> access -> revoke, with the consumer logging in."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys

import psycopg2
import pytest

from baselib.catalog import load_catalog
from baselib.sharing import policy
from baselib.settings import CATALOG_DIR, PROJECT_ROOT
from baselib.warehouse import schema
from tests.integration.sharing_fixtures import sharing_consumers  # noqa: F401

POPULATION = "101001/000001"      # 有条件共享, personal items
INDICATOR = "104001/000001"       # 无条件共享
PENSION = "304002/000001"         # 不予共享


def today() -> dt.date:
    return policy.load().calendar.local_date(dt.datetime.now(dt.timezone.utc))


class Cli:
    """Runs the CLI against the test warehouse with the test's consumers file and passwords."""

    def __init__(self, dbs, **extra_env):
        self.dbs = dbs
        self.env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_WAREHOUSE"}
        self.env.update({"WAREHOUSE_URL": dbs.warehouse_uri, "PYTHONPATH": str(PROJECT_ROOT / "plugins")})
        self.env.update(extra_env)

    def __call__(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "baselib.cli", "sharing", *args], cwd=PROJECT_ROOT,
                              env=env or self.env, capture_output=True, text=True, timeout=120)

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        assert "Traceback" not in done.stderr
        return done.stdout

    def state(self):
        return (self.dbs.query("SELECT * FROM sharing.application ORDER BY application_id"),
                self.dbs.scalar("SELECT count(*) FROM sharing.grant_change"))

    def fails(self, args: list[str], *fragments: str, records: bool = False, env: dict | None = None) -> str:
        """Run, expect exit 1 with ``error:`` and each fragment on stderr, and (unless ``records``)
        no change to the applications and the grant audit."""
        before = self.state()
        done = self(*args, env=env)
        assert done.returncode == 1, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("error: ") or "\nerror: " in done.stderr, done.stderr
        for fragment in fragments:
            assert fragment in done.stderr, f"{args}: {fragment!r} not in {done.stderr!r}"
        if not records:
            assert self.state() == before, f"{args} changed the warehouse"
        return done.stderr


def period(start_offset=0, end_offset=30) -> list[str]:
    return ["--from", str(today() + dt.timedelta(days=start_offset)), "--to", str(today() + dt.timedelta(days=end_offset))]


@pytest.fixture
def cli(dbs, sharing_consumers):  # noqa: F811
    """The test warehouse with the population tables, consumers ``tax`` and ``relief`` declared
    and applied by the CLI itself; yields (Cli, TestConsumers)."""
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [r for r in load_catalog() if r.code == POPULATION])
    finally:
        conn.close()
    consumers = sharing_consumers("tax", "relief")
    run = Cli(dbs)
    out = run.ok("consumers")
    assert consumers.code("tax") in out and consumers.code("relief") in out
    return run, consumers


def test_bad_applications(dbs, cli):
    run, consumers = cli
    tax = consumers.code("tax")
    base = ["apply", "--consumer", tax, "--purpose", "核验纳税人身份", "--legal-basis", "《税收征收管理法》第五条"]
    population = [*base, "--resource", POPULATION]

    stderr = run.fails(["apply", "--consumer", "nobody", *base[3:], "--resource", POPULATION, "--all-items",
                        *period()], "unknown consumer 'nobody'", consumers.code("relief"), "sharing consumers")
    assert tax in stderr
    run.fails([*base, "--resource", "101001/000009", "--all-items", *period()],
              "unknown resource '101001/000009'", "did you mean 101001/000001")
    run.fails([*base, "--resource", "base_population.persn", "--all-items", *period()],
              "unknown resource", "base_population.person")
    run.fails([*population, "--items", "sex,colour", *period()], "unknown item colour", "id_number, name, sex")
    run.fails([*population, "--items", "", *period()], "no items given", "id_number")
    run.fails([*population, "--items", "sex,,name", *period()], "an empty item name")
    run.fails([*population, "--items", "sex,name,sex", *period()], "items named more than once: sex")
    run.fails([*population, *period()], "--items", "--all-items")
    run.fails([*population, "--all-items", *period(10, 5)], "before it starts")
    run.fails([*population, "--all-items", *period(-30, -1)], "already over", f"today is {today()}")
    run.fails([*population, "--all-items", *period(0, 1096)], "1097 days long", "at most 1096 days")
    run.fails([*population, "--all-items", "--from", "2026-13-01", "--to", "2026-12-31"],
              "--from '2026-13-01' is not a date", "YYYY-MM-DD")
    run.fails([*base, "--resource", INDICATOR, "--all-items", "--personal", *period()],
              "无条件共享", "only on 有条件共享")
    run.fails([*population, "--items", "sex,division_code", "--personal", *period()],
              "none of the items applied for is personal", "id_number, name, birth_date, address")
    run.fails(["apply", "--consumer", tax, "--purpose", " ", "--legal-basis", "x", "--resource", POPULATION,
               "--all-items", *period()], "purpose (用途) is empty")
    run.fails(["apply", "--consumer", tax, "--purpose", "x", "--legal-basis", "", "--resource", POPULATION,
               "--all-items", *period()], "legal basis (依据) is empty")
    assert dbs.scalar("SELECT count(*) FROM sharing.application") == 0

    # 不予共享: recorded as refused, and reported as an error naming the application and the basis
    basis = next(r for r in load_catalog() if r.code == PENSION).sharing.condition
    stderr = run.fails([*base, "--resource", "dept_human_resources.pension_payment", "--all-items", *period()],
                       "refused at once", "不予共享", basis, records=True)
    app_id, status, reason, decided_by = dbs.query(
        "SELECT application_id, status, decision_reason, decided_by FROM sharing.application")[0]
    assert f"application {app_id} refused" in stderr
    assert (status, reason, decided_by) == ("refused", basis, "共享目录（不予共享）")


def test_bad_decisions(dbs, cli):
    run, consumers = cli
    tax = consumers.code("tax")
    out = run.ok("apply", "--consumer", tax, "--resource", POPULATION, "--items", "sex", "--purpose", "核验",
                 "--legal-basis", "依据", *period())
    app_id = int(out.split()[1].rstrip(":"))

    run.fails(["approve", "999", "--by", "王五"], "no sharing application 999")
    run.fails(["approve", "abc", "--by", "王五"], "'abc' is not an application id")
    run.fails(["show", "999"], "no sharing application 999")
    run.fails(["refuse", str(app_id), "--by", "王五", "--reason", " "], "a refusal gives its reason")
    run.fails(["approve", str(app_id), "--by", " "], "--by")
    run.fails(["revoke", str(app_id), "--by", "王五", "--reason", "x"], "it is submitted",
              "only an approved application can be revoked")
    run.fails(["list", "--status", "pending"], "unknown status 'pending'", "submitted, approved, refused")
    run.fails(["list", "--consumer", "nobody"], "unknown consumer 'nobody'")

    run.ok("refuse", str(app_id), "--by", "王五", "--reason", "用途不明")
    run.fails(["approve", str(app_id), "--by", "王五"], f"cannot approve application {app_id}: it is refused")
    run.fails(["refuse", str(app_id), "--by", "王五", "--reason", "x"], "it is refused")

    # a consumer no longer declared cannot be approved
    out = run.ok("apply", "--consumer", tax, "--resource", POPULATION, "--items", "sex", "--purpose", "核验",
                 "--legal-basis", "依据", *period())
    second = int(out.split()[1].rstrip(":"))
    dbs.query("UPDATE sharing.consumer SET active = false WHERE consumer_code = %s", (tax,))
    run.fails(["approve", str(second), "--by", "王五"], f"consumer {tax!r} is no longer declared")


def test_no_warehouse_configured(dbs, cli):
    run, _ = cli
    env = {k: v for k, v in run.env.items() if k not in ("WAREHOUSE_URL", "AIRFLOW_CONN_WAREHOUSE")}
    run.fails(["list"], "cannot connect to the warehouse", "AIRFLOW_CONN_WAREHOUSE", env=env)


def test_a_broken_catalog_entry(dbs, cli, tmp_path):
    run, consumers = cli
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, catalog)
    entry = catalog / "base_population_person.yaml"
    entry.write_text(entry.read_text(encoding="utf-8").replace("type: C, length: 1,", "type: Q, length: 1,", 1),
                     encoding="utf-8")
    env = {**run.env, "BASELIB_CATALOG_DIR": str(catalog)}
    for resource in (POPULATION, "base_population.person"):
        run.fails(["apply", "--consumer", consumers.code("tax"), "--resource", resource, "--all-items", "--purpose",
                   "x", "--legal-basis", "y", *period()], "catalog entry for", "is broken", "items.2.type", env=env)


def test_apply_list_approve_show_access_revoke(dbs, cli):
    run, consumers = cli
    tax = consumers.code("tax")
    out = run.ok("apply", "--consumer", tax, "--resource", "base_population.person", "--items", "sex,name,division_code",
                 "--purpose", "核验纳税人身份", "--legal-basis", "《税收征收管理法》第五条", *period(0, 30))
    app_id = int(out.split()[1].rstrip(":"))
    assert f"application {app_id}: submitted, 有条件共享 {POPULATION}, items name, sex, division_code" in out
    assert "(10 working days, the provider must first publish the data)" in out
    due = dbs.scalar("SELECT due_at FROM sharing.application WHERE application_id = %s", (app_id,))
    assert f"due {due.astimezone(policy.load().zone):%Y-%m-%d %H:%M} Asia/Shanghai" in out

    listed = run.ok("list", "--consumer", tax)
    row = next(line for line in listed.splitlines() if line.startswith(str(app_id)))
    assert tax in row and "户籍人口基本信息" in row and "3: name,sex,…" in row and "masked" in row
    assert "submitted" in row and "0/10" in row
    # a short row, however many items: the count and the first two (show lists them all)
    every = run.ok("apply", "--consumer", tax, "--resource", "base_population.person", "--all-items",
                   "--purpose", "核验纳税人身份", "--legal-basis", "《税收征收管理法》第五条", *period(0, 30))
    every_id = int(every.split()[1].rstrip(":"))
    listed = run.ok("list", "--consumer", tax)
    every_row = next(line for line in listed.splitlines() if line.startswith(str(every_id)))
    assert "9: id_number,name,…" in every_row and "registration_status" not in every_row
    # the table is as wide with 9 items as with 3 (it was about 250 columns with every item)
    assert len(every_row) < 175, listed
    assert "items                  id_number, name, sex" in run.ok("show", str(every_id))
    run.ok("refuse", str(every_id), "--by", "公安厅 王五", "--reason", "只需部分数据项")
    assert run.ok("list", "--status", "approved").startswith("no applications")
    assert run.ok("list", "--overdue").startswith("no applications")

    out = run.ok("approve", str(app_id), "--by", "公安厅 王五", "--note", "同意")
    assert f"application {app_id}: approved by 公安厅 王五" in out and "after 0 working days (limit 10" in out
    assert "grant changes:" in out and f"share_{tax}" in out
    assert dbs.query("SELECT status, decided_by, decision_reason, response_working_days FROM sharing.application "
                     "WHERE application_id = %s", (app_id,)) == [("approved", "公安厅 王五", "同意", 0)]

    shown = run.ok("show", str(app_id))
    for line in ("status                 approved", "decided_by             公安厅 王五",
                 "items                  name, sex, division_code", "access_ends_at",
                 f"period_end             {today() + dt.timedelta(days=30)}", "within_limit           True"):
        assert line in shown, shown
    assert "户籍人口基本信息" in shown
    assert "base_population__person" in run.ok("access", "--consumer", tax)

    conn = consumers.login("tax")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM base_population__person")
            columns = [d.name for d in cur.description]
        assert columns[0] == "_row_key" and {"name", "sex", "division_code"} <= set(columns)
        assert "id_number" not in columns
    finally:
        conn.close()

    out = run.ok("revoke", str(app_id), "--by", "公安厅 王五", "--reason", "核验任务结束")
    assert f"application {app_id}: revoked by 公安厅 王五" in out and "drop_view" in out
    conn = consumers.login("tax")
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.Error):
            cur.execute("SELECT * FROM base_population__person")
    finally:
        conn.close()
    assert "expired applications: none" in run.ok("reconcile")
