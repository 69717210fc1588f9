"""The daily ``quality_returns`` DAG (数据回退) run through Airflow itself (``airflow dags test``), on
a warehouse where two providers have open quarantine entries (the public-security population, a
database source, and the statistics bureau's indicator values, a file drop).

One run: list_providers finds both, one mapped drop_return per provider writes its workbook to the
``file://`` returns root and marks exactly its entries returned under the run's id; summarize
counts them. A second run finds nothing and writes nothing."""
from __future__ import annotations

import datetime as dt
import subprocess
import zoneinfo
from pathlib import Path

import openpyxl
import pytest

from tests.e2e.airflow_cli import airflow, airflow_env, migrate
from tests.integration.test_quality_returns import (
    POLICE, STATISTICS, open_entries, police_with_bad_rows, sheet_rows, statistics_with_bad_rows,
)

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    migrate(airflow_env(home))
    return home


def _dags_test(env: dict, day: dt.date) -> subprocess.CompletedProcess:
    return subprocess.run([airflow(), "dags", "test", "quality_returns", day.isoformat()], env=env,
                          capture_output=True, text=True, timeout=900, cwd=ROOT)


def test_quality_returns_dag_drops_each_providers_workbook_and_marks_its_entries(dbs, landing, population,
                                                                                 airflow_home, tmp_path):
    police_with_bad_rows(dbs, population)
    statistics_with_bad_rows(landing)
    expected = {provider: open_entries(dbs, provider) for provider in (POLICE, STATISTICS)}
    assert all(expected.values())
    root = tmp_path / "returns"
    env = airflow_env(airflow_home, BASELIB_RETURNS_URL=root.as_uri())
    today = dt.datetime.now(SHANGHAI).date()

    done = _dags_test(env, today)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    recorded = dbs.query("SELECT provider_code, return_id, uri, quarantine_entries, objections, run_id "
                         "FROM ops.quality_return ORDER BY provider_code")
    assert [r[0] for r in recorded] == sorted(expected)
    assert len({r[5] for r in recorded}) == 1 and recorded[0][5].startswith("manual__"), recorded
    for provider, return_id, uri, entries, objections, _ in recorded:
        files = list((root / provider).iterdir())
        assert len(files) == 1 and uri == f"{root.as_uri()}/{provider}/{files[0].name}"
        assert files[0].name.startswith(f"退回-{provider}-")
        assert (entries, objections) == (len(expected[provider]), 0)
        _, rows = sheet_rows(openpyxl.load_workbook(files[0]), "退回数据 Rejected rows")
        assert [r[2] for r in rows] == [e["record_key"] for e in expected[provider]]
        assert dbs.query("SELECT quarantine_id FROM ops.quarantine WHERE status = 'returned' AND return_id = %s "
                         "AND returned_at IS NOT NULL ORDER BY quarantine_id", (return_id,)) == \
            sorted((e["quarantine_id"],) for e in expected[provider])
    assert dbs.scalar("SELECT count(*) FROM ops.quarantine WHERE status = 'open'") == 0
    total = sum(len(v) for v in expected.values())
    assert f"returns: 2 workbook(s), {total} rejected row(s), 0 objection(s)" in done.stdout + done.stderr

    again = _dags_test(env, today + dt.timedelta(days=1))
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert dbs.scalar("SELECT count(*) FROM ops.quality_return") == 2
    assert sorted(len(list((root / p).iterdir())) for p in expected) == [1, 1]
    assert "returns: 0 workbook(s), 0 rejected row(s), 0 objection(s)" in again.stdout + again.stderr
