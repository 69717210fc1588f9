"""Returns to providers (数据回退) against real PostgreSQL, a real file-drop pipeline and a real S3
server (moto, on loopback): the workbook's content against the warehouse, its drop to ``file://``
and ``s3://`` marking exactly the exported entries, single-flight, an upload that fails, the
lifecycle of an entry (returned, resolved by the corrected row, open again when the bad row comes
back), and the CLI."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import threading
import zoneinfo
from pathlib import Path

import openpyxl
import pytest

from baselib.quality import returns
from baselib_simulators import macro_economy as sim
from baselib_simulators.delivery import deliver
from tests.conftest import BUCKET, DAY1, DAY2
from tests.integration.file_drop_helpers import deliveries
from tests.integration.pipeline_helpers import catalog_entry, fill_source, run

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
POPULATION = "101001/000001"
VALUES = "104001/000002"
POLICE = "11360000014400005D"       # 省公安厅, provider of the population
STATISTICS = "11360000014500380R"   # 省统计局, provider of the indicator values (a file drop)
HEADER = "indicator_code,region_code,period,value,unit\n"
PREFECTURES = ["360100", "360200", "360300", "360400", "360500", "360600", "360700", "360800", "360900", "361000"]
GOOD = "".join(f"A0201,{code},2024,{100 + i}.5,亿元\n" for i, code in enumerate(PREFECTURES))  # under the threshold
BAD = ["A0201,369100,2024,1,亿元", "A0201,360100,2009,123456789012345678,亿元"]  # unknown region; too big
DAY3 = (DAY2[1], DAY2[1] + dt.timedelta(days=1))
DAY4 = (DAY3[1], DAY3[1] + dt.timedelta(days=1))
SHOWN = ["资源代码", "资源名称", "记录键", "原因", "未通过的检查", "来源位置", "源数据行", "首次发现", "最近发现", "次数"]


def local(instant: dt.datetime) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def values_folder(landing: Path) -> Path:
    """The indicator codes loaded (the values' reference), and the values' landing folder."""
    sim.write_indicators(landing)
    run(catalog_entry("base_macro_economy.indicator"), DAY1)
    folder = landing / "statistics" / "indicator_value"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def statistics_with_bad_rows(landing: Path, name: str = "2026年 指标.csv") -> tuple[str, list[str]]:
    """A delivery with ten good and two bad rows, loaded. Returns (its text, its lines)."""
    text = HEADER + GOOD + "\n".join(BAD) + "\n"
    deliver(values_folder(landing) / name, text, encoding="utf-8")
    assert run(catalog_entry("base_macro_economy.indicator_value"), DAY1)["rows_quarantined"] == len(BAD)
    return text, text.splitlines()


def police_with_bad_rows(dbs, population) -> None:
    fill_source(dbs, rows=300, rates={"bad_check_character": 0.03, "unknown_division_code": 0.02})
    assert run(population, DAY1)["rows_quarantined"] > 0


def open_entries(dbs, provider: str) -> list[dict]:
    """The provider's open quarantine entries, in the workbook's order."""
    names = ["quarantine_id", "resource_code", "resource_name", "record_key", "reason", "failed_expectations",
             "source_ref", "source_row", "first_seen_at", "last_seen_at", "times_seen"]
    rows = dbs.query(
        "SELECT q.quarantine_id, q.resource_code, r.resource_name, q.record_key, q.reason, q.failed_expectations, "
        "q.source_ref, q.source_row, q.first_seen_at, q.last_seen_at, q.times_seen FROM ops.quarantine q "
        "JOIN catalog.resource r USING (resource_code) WHERE q.status = 'open' AND r.provider_code = %s "
        "ORDER BY q.resource_code, q.first_seen_at, q.quarantine_id", (provider,))
    return [dict(zip(names, row)) for row in rows]


def sheet_rows(book, title: str) -> tuple[list, list[list]]:
    sheet = book[title]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    return rows[0], rows[1:]


def saved(book) -> openpyxl.Workbook:
    """The workbook as a reader gets it: saved and opened again."""
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return openpyxl.load_workbook(buffer)


def failed_text(failed: list[dict]) -> str:
    return "\n".join(f"{f.get('check') or f.get('expectation')}" + (f" [{f['severity']}]" if f.get("severity") else "")
                     + (f": {f['reason']}" if f.get("reason") else "") for f in failed)


def insert_objection(cur, consumer: str, resource_code: str, provider: str, key: str, item: str, status: str,
                     raised: dt.datetime) -> int:
    """An objection as the objection process records it (open, confirmed or rejected)."""
    answered = status != "open"
    cur.execute(
        "INSERT INTO sharing.objection (consumer_code, resource_code, provider_code, record_key, item_name, value_seen, "
        "value_expected, evidence, status, raised_at, answer_due_at, answered_at, answered_by, answer_reason, "
        "correction_due_at) VALUES (%s, %s, %s, %s, %s, %s, %s, '户籍档案 2026-10', %s, %s, %s, %s, %s, %s, %s) "
        "RETURNING objection_id",
        (consumer, resource_code, provider, key, item, f"seen {key}", f"expected {key}", status, raised,
         raised + dt.timedelta(days=5), raised + dt.timedelta(days=1) if answered else None,
         "provider:test" if answered else None, "no error" if status == "rejected" else None,
         raised + dt.timedelta(days=10) if status in ("confirmed", "rejected") else None))
    return cur.fetchone()[0]


@pytest.fixture
def objections(dbs):
    """Objections for both providers: police open, confirmed and rejected; statistics open.
    Returns {name: objection_id}."""
    from tests.integration.sharing_fixtures import register_consumers

    from baselib.warehouse import schema

    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        register_consumers(conn, "tax")
        raised = dt.datetime(2026, 11, 2, 2, 30, tzinfo=dt.timezone.utc)
        with conn.cursor() as cur:
            ids = {
                "open": insert_objection(cur, "tax", POPULATION, POLICE, "360102199001010011", "name", "open", raised),
                "confirmed": insert_objection(cur, "tax", POPULATION, POLICE, "360102199001010022", "address",
                                              "confirmed", raised + dt.timedelta(hours=1)),
                "rejected": insert_objection(cur, "tax", POPULATION, POLICE, "360102199001010033", "sex", "rejected",
                                             raised),
                "statistics": insert_objection(cur, "tax", VALUES, STATISTICS, "A0201/360100/2024", "value", "open",
                                               raised),
            }
        conn.commit()
    finally:
        conn.close()
    return ids


def test_workbook_lists_the_providers_open_entries_and_pending_objections_exactly(dbs, landing, population,
                                                                                  objections):
    police_with_bad_rows(dbs, population)
    statistics_with_bad_rows(landing)
    # one entry already returned earlier: not open, so not listed again
    already = dbs.scalar("SELECT min(quarantine_id) FROM ops.quarantine WHERE resource_code = %s", (POPULATION,))
    dbs.query("UPDATE ops.quarantine SET status = 'returned', returned_at = now() WHERE quarantine_id = %s "
              "RETURNING 1", (already,))
    expected = open_entries(dbs, POLICE)
    assert expected and all(e["resource_code"] == POPULATION for e in expected)
    now = dt.datetime(2026, 11, 30, 1, 2, 3, tzinfo=dt.timezone.utc)

    conn = dbs.warehouse()
    try:
        book, quarantine_ids, objection_ids = returns.workbook(conn, POLICE, now=now)
    finally:
        conn.close()
    book = saved(book)

    assert book.sheetnames == ["退回数据 Rejected rows", "数据异议 Objections", "说明 About"]
    assert quarantine_ids == [e["quarantine_id"] for e in expected] and already not in quarantine_ids
    header, rows = sheet_rows(book, "退回数据 Rejected rows")
    assert [h.split("\n")[0] for h in header] == SHOWN
    assert all(book["退回数据 Rejected rows"].cell(1, i + 1).font.b for i in range(len(header)))
    assert book["退回数据 Rejected rows"].freeze_panes == "A2"
    table = population.pipeline.source.table
    assert len(rows) == len(expected)
    for row, entry in zip(rows, expected):
        key = entry["record_key"]
        assert row[:5] == [POPULATION, entry["resource_name"], key, entry["reason"],
                           failed_text(entry["failed_expectations"])]
        assert row[5] == f"源表 {table}（连接 {population.pipeline.source.conn_id}）记录键 {key} / table {table} " \
                         f"({population.pipeline.source.conn_id}), key {key}"
        assert json.loads(row[6]) == entry["source_row"]
        assert row[7:] == [local(entry["first_seen_at"]), local(entry["last_seen_at"]), entry["times_seen"]]
    # an 18-digit identifier stays text, exactly as delivered
    id_cells = [c for c in book["退回数据 Rejected rows"]["C"][1:]]
    assert all(c.data_type == "s" and c.number_format == "@" for c in id_cells)
    assert any(len(c.value) == 18 and c.value[:17].isdigit() for c in id_cells)
    assert book["退回数据 Rejected rows"].column_dimensions["G"].width > 10

    # objections: the police's open and confirmed ones, not the rejected one nor the statistics bureau's
    assert objection_ids == [objections["open"], objections["confirmed"]]
    header, rows = sheet_rows(book, "数据异议 Objections")
    assert [h.split("\n")[0] for h in header] == ["异议编号", "资源代码", "资源名称", "记录键", "信息项", "所见值", "期望值",
                                                  "依据", "提出时间", "答复期限", "更正期限", "状态"]
    stored = dbs.query("SELECT objection_id, record_key, item_name, value_seen, value_expected, evidence, raised_at, "
                       "answer_due_at, correction_due_at, status FROM sharing.objection WHERE objection_id = ANY(%s) "
                       "ORDER BY raised_at", (objection_ids,))
    name = dbs.scalar("SELECT resource_name FROM catalog.resource WHERE resource_code = %s", (POPULATION,))
    assert rows == [[str(oid), POPULATION, name, key, item, seen, want, evidence, local(raised), local(answer),
                     local(correction) if correction else None, returns.OBJECTION_STATUS[status]]
                    for oid, key, item, seen, want, evidence, raised, answer, correction, status in stored]

    _, about = sheet_rows(book, "说明 About")
    about = {label.split("\n")[0]: value for label, value in about}
    assert about["提供方"] == population.provider.name and about["提供方代码"] == POLICE
    assert about["生成时间"] == local(now)
    assert about["退回数据条数"] == len(expected) and about["数据异议条数"] == 2
    assert "重新报送" in about["如何反馈更正"]


def test_a_file_drop_row_is_located_by_file_and_line(dbs, landing):
    name = "2026年 指标.csv"
    _, lines = statistics_with_bad_rows(landing, name)
    conn = dbs.warehouse()
    try:
        book, quarantine_ids, _ = returns.workbook(conn, STATISTICS)
    finally:
        conn.close()
    _, rows = sheet_rows(saved(book), "退回数据 Rejected rows")

    assert len(rows) == len(quarantine_ids) == len(BAD)
    by_key = {row[2]: row for row in rows}
    for bad in BAD:
        fields = bad.split(",")
        line = lines.index(bad) + 1  # the header is line 1
        row = by_key["/".join(fields[:3])]
        assert row[5] == f"文件 {name} 第 {line} 行 / line {line}"
        assert json.loads(row[6])["value"] == fields[3] and json.loads(row[6])["region_code"] == fields[1]
    assert {row[0] for row in rows} == {VALUES}  # the statistics bureau's own rows only


def test_drop_to_a_file_folder_marks_exactly_the_exported_entries_and_a_second_drop_writes_nothing(
        dbs, landing, tmp_path, monkeypatch, objections):
    statistics_with_bad_rows(landing)
    root = tmp_path / "returns"
    monkeypatch.setenv("BASELIB_RETURNS_URL", root.as_uri())
    expected = open_entries(dbs, STATISTICS)

    result = returns.drop(dbs.warehouse, STATISTICS, run_id="test-run")

    folder = root / STATISTICS
    files = list(folder.iterdir())
    assert len(files) == 1 and files[0].name.startswith(f"退回-{STATISTICS}-") and files[0].suffix == ".xlsx"
    assert result == {"provider_code": STATISTICS, "return_id": result["return_id"],
                      "uri": f"{root.as_uri()}/{STATISTICS}/{files[0].name}",
                      "quarantine_entries": len(expected), "objections": 1}
    _, rows = sheet_rows(openpyxl.load_workbook(files[0]), "退回数据 Rejected rows")
    assert [r[2] for r in rows] == [e["record_key"] for e in expected]
    assert dbs.query("SELECT quarantine_id, status, return_id, returned_at IS NOT NULL FROM ops.quarantine "
                     "WHERE resource_code = %s ORDER BY quarantine_id", (VALUES,)) == \
        sorted((e["quarantine_id"], "returned", result["return_id"], True) for e in expected)
    assert dbs.query("SELECT provider_code, uri, quarantine_entries, objections, run_id FROM ops.quality_return") == \
        [(STATISTICS, result["uri"], len(expected), 1, "test-run")]
    assert dbs.query("SELECT objection_id, return_id FROM sharing.objection WHERE return_id IS NOT NULL") == \
        [(objections["statistics"], result["return_id"])]

    assert returns.drop(dbs.warehouse, STATISTICS, run_id="again") is None
    assert list(folder.iterdir()) == files
    assert dbs.scalar("SELECT count(*) FROM ops.quality_return") == 1


def test_drop_to_s3(dbs, landing, s3, population):
    police_with_bad_rows(dbs, population)
    expected = open_entries(dbs, POLICE)
    root = f"s3://{BUCKET}/returns"

    result = returns.drop(dbs.warehouse, POLICE, returns_root=root, run_id="s3-run")

    import pyarrow.fs as pafs

    listed = s3.get_file_info(pafs.FileSelector(f"{BUCKET}/returns/{POLICE}"))
    assert [info.base_name for info in listed] == [result["uri"].rsplit("/", 1)[-1]]
    assert result["uri"] == f"{root}/{POLICE}/{listed[0].base_name}"
    with s3.open_input_file(listed[0].path) as handle:
        book = openpyxl.load_workbook(io.BytesIO(handle.read()))
    _, rows = sheet_rows(book, "退回数据 Rejected rows")
    assert [r[2] for r in rows] == [e["record_key"] for e in expected]
    assert dbs.scalar("SELECT count(*) FROM ops.quarantine WHERE status = 'returned' AND return_id = %s",
                      (result["return_id"],)) == len(expected)
    assert dbs.scalar("SELECT count(*) FROM ops.quarantine WHERE status = 'open'") == 0


def test_concurrent_drops_for_one_provider_never_send_an_entry_twice(dbs, landing, tmp_path):
    statistics_with_bad_rows(landing)
    root = (tmp_path / "returns").as_uri()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def one():
        conn = dbs.warehouse()
        try:
            barrier.wait()
            results.append(returns.drop(conn, STATISTICS, returns_root=root, run_id=threading.current_thread().name))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=one, name=f"t{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    sent = [r for r in results if r is not None]
    assert len(results) == 2 and len(sent) == 1 and sent[0]["quarantine_entries"] == len(BAD)
    assert len(list((tmp_path / "returns" / STATISTICS).iterdir())) == 1
    assert dbs.query("SELECT count(*), count(DISTINCT return_id) FROM ops.quarantine WHERE status = 'returned'") == \
        [(len(BAD), 1)]


def test_an_upload_that_fails_marks_nothing(dbs, landing, tmp_path):
    statistics_with_bad_rows(landing)
    root = tmp_path / "returns"
    root.mkdir()
    (root / STATISTICS).write_text("a file where the provider's folder should be")

    with pytest.raises(Exception):
        returns.drop(dbs.warehouse, STATISTICS, returns_root=root.as_uri())

    assert dbs.scalar("SELECT count(*) FROM ops.quarantine WHERE status = 'open' AND return_id IS NULL") == len(BAD)
    assert dbs.scalar("SELECT count(*) FROM ops.quality_return") == 0


def test_a_returned_entry_is_resolved_by_its_corrected_row_and_opens_again_when_the_bad_row_comes_back(
        dbs, landing, tmp_path):
    """returned + same bad row again -> stays returned; corrected row loads -> resolved;
    the bad row once more -> open again, its resolution and return cleared."""
    _, _ = statistics_with_bad_rows(landing, "first.csv")
    folder = landing / "statistics" / "indicator_value"
    resource = catalog_entry("base_macro_economy.indicator_value")
    too_big = BAD[1]
    key = "/".join(too_big.split(",")[:3])
    result = returns.drop(dbs.warehouse, STATISTICS, returns_root=(tmp_path / "r").as_uri())

    def entry():
        return dbs.query("SELECT status, times_seen, return_id, returned_at IS NOT NULL, resolved_at IS NOT NULL, "
                         "resolved_by_load_id FROM ops.quarantine WHERE resource_code = %s AND record_key = %s",
                         (VALUES, key))[0]

    assert entry() == ("returned", 1, result["return_id"], True, False, None)

    deliver(folder / "again.csv", HEADER + too_big + "\n", encoding="utf-8")
    assert run(resource, DAY2)["rows_quarantined"] == 1
    assert entry() == ("returned", 2, result["return_id"], True, False, None)   # the provider has it already

    corrected = ",".join(too_big.split(",")[:3] + ["12.5", "亿元"])
    deliver(folder / "corrected.csv", HEADER + corrected + "\n", encoding="utf-8")
    fixed = run(resource, DAY3)
    assert fixed["rows_inserted"] == 1 and deliveries(dbs, VALUES)["corrected.csv"]["status"] == "loaded"
    assert entry() == ("resolved", 2, result["return_id"], True, True, fixed["load_id"])

    deliver(folder / "bad_once_more.csv", HEADER + too_big + "\n", encoding="utf-8")
    assert run(resource, DAY4)["rows_quarantined"] == 1
    assert entry() == ("open", 3, None, False, False, None)
    # and it is on the next return
    again = returns.drop(dbs.warehouse, STATISTICS, returns_root=(tmp_path / "r").as_uri())
    assert again["quarantine_entries"] == 1 and again["return_id"] != result["return_id"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "baselib.cli", "quality", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT / "plugins"), **(env or {})})


def test_cli_export_and_return(dbs, landing, tmp_path):
    statistics_with_bad_rows(landing)
    reports = tmp_path / "reports"
    env = {"BASELIB_REPORTS_DIR": str(reports), "BASELIB_RETURNS_URL": (tmp_path / "returns").as_uri()}

    unknown = cli("export", "--provider", "NOPE", env=env)
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr.startswith("error: unknown provider 'NOPE': known provider codes are ")
    assert f"{STATISTICS} (省统计局)" in unknown.stderr and f"{POLICE} (省公安厅)" in unknown.stderr
    assert not reports.exists()
    refused = cli("return", "--provider", STATISTICS, "--provider", "NOPE", env=env)
    assert refused.returncode == 1 and refused.stderr.startswith("error: unknown provider 'NOPE'")
    assert not (tmp_path / "returns").exists()

    default = cli("export", "--provider", STATISTICS, env=env)
    assert default.returncode == 0, default.stderr
    path = Path(default.stdout.splitlines()[0])
    assert path.parent == reports / "returns" and path.name.startswith(f"{STATISTICS}-") and path.exists()
    assert f"{len(BAD)} rejected row(s), 0 objection(s)" in default.stdout
    chosen = cli("export", "--provider", STATISTICS, "--output", str(tmp_path / "mine.xlsx"), env=env)
    assert chosen.returncode == 0 and (tmp_path / "mine.xlsx").exists()
    _, rows = sheet_rows(openpyxl.load_workbook(tmp_path / "mine.xlsx"), "退回数据 Rejected rows")
    assert sorted(r[2] for r in rows) == sorted("/".join(b.split(",")[:3]) for b in BAD)
    assert dbs.scalar("SELECT count(*) FROM ops.quarantine WHERE status = 'open'") == len(BAD)  # nothing marked

    sent = cli("return", env=env)
    assert sent.returncode == 0, sent.stderr
    uri = dbs.scalar("SELECT uri FROM ops.quality_return WHERE provider_code = %s", (STATISTICS,))
    assert sent.stdout.startswith(f"{STATISTICS}: {uri} ({len(BAD)} rejected row(s), 0 objection(s), return ")
    assert dbs.scalar("SELECT count(*) FROM ops.quarantine WHERE status = 'open'") == 0
    nothing = cli("return", env=env)
    assert nothing.stdout.strip() == "nothing to return: no provider has open entries or unsent objections"


def test_cells_that_look_like_formulas_or_numbers_stay_text():
    """A delivered value is shown as delivered: "=…" is never a formula, an 18-digit identifier
    or a leading-zero code never a number."""
    values = ["=HYPERLINK(\"http://example.invalid\",\"点击\")", "360102199001010011", "000123", "+86 791"]
    book = openpyxl.Workbook()
    returns._sheet(book, "t", ["值\nValue", "次数\nTimes"], [[v, i] for i, v in enumerate(values)], numeric={1})
    sheet = saved(book)["t"]
    assert [(c.value, c.data_type) for c in sheet["A"][1:]] == [(v, "s") for v in values]
    assert [c.value for c in sheet["B"][1:]] == list(range(len(values)))


# -- theme resources are not deliveries: never returned ------------------------------------------------------

PLATFORM = "11360000014400996W"  # 省政务服务数据管理局, catalog provider of the theme resources


def _theme_entry(dbs, code: str, row: dict, key: str) -> int:
    """A published theme resource with one open quarantine entry holding ``row``; its id."""
    from baselib.catalog.loader import find
    from baselib.catalog.publish import publish
    from baselib.warehouse import schema

    theme = find(code)
    conn = dbs.warehouse()
    try:
        schema.ensure(conn, [])
        publish(conn, theme)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO ops.load_run (resource_code, dag_id, run_id, mode, status) "
                        "VALUES (%s, %s, 'theme', 'full', 'success') RETURNING load_id", (code, theme.dag_id))
            load_id = cur.fetchone()[0]
            cur.execute(
                "INSERT INTO ops.quarantine (resource_code, load_id, last_load_id, record_key, source_row, "
                "failed_expectations, reason, row_fingerprint) VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s) "
                "RETURNING quarantine_id",
                (code, load_id, load_id, key, json.dumps(row, ensure_ascii=False),
                 '[{"check": "theme_check", "severity": "critical", "reason": "bad"}]', "bad", f"fp-{key}"))
            qid = cur.fetchone()[0]
        conn.commit()
    finally:
        conn.close()
    return qid


def test_theme_resources_are_never_returned_nor_listed(dbs, landing, tmp_path):
    """Every sql_model resource of the catalog (all catalogued under the platform's bureau here) is
    left out of returns: not in the workbook, not a reason to list its provider, never marked;
    a delivering provider's return in the same run is unaffected. The About sheet says so."""
    from baselib.catalog import load_catalog

    themes = sorted(r.code for r in load_catalog() if r.pipeline.source.kind == "sql_model")
    assert returns.theme_codes() == themes and len(themes) >= 3
    ids = [_theme_entry(dbs, code, {"citizen_id": "36010219800101123X", "name": "张三丰"}, f"k{i}")
           for i, code in enumerate(themes)]
    statistics_with_bad_rows(landing)

    conn = dbs.warehouse()
    try:
        assert returns.providers_to_return(conn) == [STATISTICS]
        book, quarantine_ids, objection_ids = returns.workbook(conn, PLATFORM)
        conn.rollback()
    finally:
        conn.close()
    assert (quarantine_ids, objection_ids) == ([], [])
    book = saved(book)
    assert sheet_rows(book, "退回数据 Rejected rows")[1] == []
    _, about = sheet_rows(book, "说明 About")
    about = {label.split("\n")[0]: value for label, value in about}
    assert about["退回数据条数"] == 0 and about["数据说明"] == returns.ABOUT_THE_DATA
    assert "主题库" in about["数据说明"] and "never returned" in about["数据说明"]

    assert returns.drop(dbs.warehouse, PLATFORM, returns_root=(tmp_path / "r").as_uri()) is None
    sent = returns.drop(dbs.warehouse, STATISTICS, returns_root=(tmp_path / "r").as_uri())
    assert sent["quarantine_entries"] == len(BAD)
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [STATISTICS]
    assert dbs.query("SELECT quarantine_id, status, return_id FROM ops.quarantine WHERE quarantine_id = ANY(%s) "
                     "ORDER BY quarantine_id", (ids,)) == [(i, "open", None) for i in sorted(ids)]


def test_a_theme_gone_from_the_catalog_files_is_still_not_returned(dbs, landing, monkeypatch):
    """A theme that has refreshed (``ops.theme_input_load``) but whose entry has left the catalog
    files (so :func:`returns.theme_codes` no longer names it) is still no delivery."""
    theme = returns.theme_codes()[0]
    qid = _theme_entry(dbs, theme, {"citizen_id": "36010219800101123X"}, "k")
    statistics_with_bad_rows(landing)
    load_id = dbs.scalar("SELECT load_id FROM ops.quarantine WHERE quarantine_id = %s", (qid,))
    input_load = dbs.scalar("SELECT max(load_id) FROM ops.load_run WHERE resource_code = %s", (VALUES,))
    dbs.query("INSERT INTO ops.theme_input_load (theme_code, input_load_id, input_code, consumed_by_load_id) "
              "VALUES (%s, %s, %s, %s) RETURNING 1", (theme, input_load, VALUES, load_id))
    monkeypatch.setattr(returns, "theme_codes", lambda catalog=None: [])

    conn = dbs.warehouse()
    try:
        assert returns.providers_to_return(conn) == [STATISTICS]
        _, quarantine_ids, _ = returns.workbook(conn, PLATFORM)
        conn.rollback()
    finally:
        conn.close()
    assert quarantine_ids == []


# -- a return folder that cannot be written -----------------------------------------------------------------

def test_cli_return_to_an_unwritable_folder_is_an_error_per_provider_and_the_others_still_go(
        dbs, landing, tmp_path, objections):
    """The police's folder is a file: an ``error: provider …`` line, nothing of the police marked
    and no file; the statistics bureau's return is written and marked; exit 1 at the end."""
    statistics_with_bad_rows(landing)
    root = tmp_path / "returns"
    root.mkdir()
    (root / POLICE).write_text("a file where the provider's folder should be")

    done = cli("return", env={"BASELIB_RETURNS_URL": root.as_uri()})

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(f"error: provider {POLICE}: cannot write the return workbook under "
                               f"{root.as_uri()}/{POLICE}: ")
    assert lines[-1] == f"error: 1 of 2 return(s) not written ({POLICE}); nothing of theirs was marked"
    uri = dbs.scalar("SELECT uri FROM ops.quality_return WHERE provider_code = %s", (STATISTICS,))
    assert done.stdout.startswith(f"{STATISTICS}: {uri} ({len(BAD)} rejected row(s), 1 objection(s), return ")
    assert dbs.query("SELECT provider_code FROM ops.quality_return") == [(STATISTICS,)]
    assert dbs.query("SELECT objection_id FROM sharing.objection WHERE provider_code = %s AND return_id IS NULL "
                     "AND status IN ('open', 'confirmed') ORDER BY objection_id", (POLICE,)) == \
        sorted([(objections["open"],), (objections["confirmed"],)])
    assert (root / POLICE).read_text() == "a file where the provider's folder should be"
    assert len(list((root / STATISTICS).iterdir())) == 1


def test_an_export_that_fails_midway_leaves_no_part_file_and_no_folder(tmp_path, monkeypatch):
    """The rename fails after the folders were created and the .part written (disk full, a
    concurrent rmdir): the .part and the folders the export created are removed, the error is raised."""
    target = tmp_path / "new" / "deeper" / "out.xlsx"

    def refuse(self, other):
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(OSError) as caught:
        returns._write_atomically(target, b"workbook")
    assert caught.value.errno == 28
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    returns._write_atomically(target, b"workbook")
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.xlsx"] and target.read_bytes() == b"workbook"
