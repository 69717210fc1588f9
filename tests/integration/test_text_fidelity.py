"""Text fidelity on every source kind (issue 8, sections 1, 2, 3 and 4): only a real NULL at the
source is NULL, any text PostgreSQL can store arrives exactly (after the documented trimming and
identifier rules of ``baselib.sources.text``), NUL and values of the wrong type quarantine their
row alone, and timestamps without a time zone are read in the provider's zone.

Real PostgreSQL, real GX suites, a real loopback HTTP server and real files; no mocks.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import re
import os
import secrets
import time
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from baselib_simulators import certificates
from baselib_simulators import population as population_sim
from baselib.sources.text import NUL_SHOWN, TRIMMED
from tests.conftest import AS_OF, DAY1, DAY2, REAL_WORLD, UTC
from tests.integration.pipeline_helpers import assert_accounted, catalog_entry, run

CLEAN = {kind: 0.0 for kind in population_sim.DEFECTS}
NUL_REASON = "含 NUL(0x00) 字符，数据库无法存储 / contains a NUL (0x00) character, which PostgreSQL cannot store"
LOOKS_NULL = ["NULL", "NA", "N/A", "null", "None", "nan", "\\N", '""', "''"]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
CERTIFICATES = "105001/000001"


# -- helpers -------------------------------------------------------------------------------------
def fill_population(dbs, rows: int = 40) -> list[str]:
    """A clean simulated source; its citizen IDs in source order."""
    conn = dbs.source()
    try:
        population_sim.create(conn, rows=rows, seed=5, as_of=AS_OF, rates=CLEAN)
        with conn.cursor() as cur:
            # real front-end tables are not always varchar(n): text keeps padding PostgreSQL would cut
            cur.execute("ALTER TABLE frontend.population_person ALTER COLUMN id_number TYPE text, "
                        "ALTER COLUMN name TYPE text, ALTER COLUMN address TYPE text")
            cur.execute("SELECT id_number FROM frontend.population_person ORDER BY row_id")
            ids = [r[0] for r in cur.fetchall()]
        conn.commit()
        return ids
    finally:
        conn.close()


def source_execute(dbs, statement: str, params=None, many: list | None = None) -> None:
    conn = dbs.source()
    try:
        with conn.cursor() as cur:
            if many is not None:
                cur.executemany(statement, many)
            else:
                cur.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def insert_people(dbs, rows: list[dict], updated_at: dt.datetime) -> None:
    columns = ["id_number", "name", "sex", "ethnicity", "birth_date", "division_code", "address",
               "registration_status"]
    source_execute(dbs, f"INSERT INTO frontend.population_person ({', '.join(columns)}, updated_at) "
                        f"VALUES ({', '.join(['%s'] * len(columns))}, %s)",
                   many=[[r[c] for c in columns] + [updated_at] for r in rows])


def quarantined(dbs, resource_code: str, load_id: int) -> dict[str, tuple[str, dict]]:
    """record_key -> (reason, source_row) of the rows this load quarantined."""
    rows = dbs.query("SELECT record_key, reason, source_row FROM ops.quarantine WHERE resource_code = %s "
                     "AND last_load_id = %s", (resource_code, load_id))
    return {key: (reason, source_row) for key, reason, source_row in rows}


def trimmed(text: str) -> str:
    return text.strip(TRIMMED)


def land(folder: Path, name: str, data: bytes) -> None:
    """A delivered file, written an hour ago (settled: not one still being written)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    an_hour_ago = time.time() - 3600
    os.utime(folder / name, (an_hour_ago, an_hour_ago))


# -- 1. only a real NULL is NULL (postgres) ------------------------------------------------------
def test_texts_that_look_like_null_load_as_those_texts(dbs, population):
    ids = fill_population(dbs)
    looks = dict(zip(ids, LOOKS_NULL))
    source_execute(dbs, "UPDATE frontend.population_person SET address = %s, name = %s WHERE id_number = %s",
                   many=[(text, text, id_number) for id_number, text in looks.items()])
    source_execute(dbs, "UPDATE frontend.population_person SET address = NULL WHERE id_number = %s", (ids[20],))
    source_execute(dbs, "UPDATE frontend.population_person SET address = '' WHERE id_number = %s", (ids[21],))
    source_execute(dbs, "UPDATE frontend.population_person SET name = NULL WHERE id_number = %s", (ids[22],))

    first = run(population, DAY1)

    assert_accounted(first)
    loaded = dict(dbs.query("SELECT id_number, address FROM base_population.person"))
    names = dict(dbs.query("SELECT id_number, name FROM base_population.person"))
    for id_number, text in looks.items():
        assert (loaded[id_number], names[id_number]) == (text, text)
    assert loaded[ids[20]] is None            # a real NULL stays NULL
    assert loaded[ids[21]] == ""              # an empty text is not NULL
    assert ids[22] not in loaded              # a real NULL name: quarantined as missing, shown as null
    reason, source_row = quarantined(dbs, population.code, first["load_id"])[ids[22]]
    assert "姓名(name) 为空 / value is missing" in reason
    assert "name" in source_row and source_row["name"] is None
    # nothing changed at the source: a second full read changes nothing
    again = run(population, DAY1, mode="full")
    assert (again["rows_updated"], again["rows_inserted"]) == (0, 0)


# -- 3. the same text rules on the database source -------------------------------------------------
def test_padded_names_and_full_width_or_lower_case_ids_load_normalised(dbs, population):
    fill_population(dbs)
    people = (json.loads((REAL_WORLD / "population-fullwidth-padded.json").read_text(encoding="utf-8"))[1:]
              + json.loads((REAL_WORLD / "population-lowercase-x.json").read_text(encoding="utf-8"))[1:])
    people.append({**people[0], "id_number": "\u200b11010519491231002x\ufeff", "name": " 张三\u3000",
                   "sex": "2", "birth_date": "1949-12-31", "division_code": "110105"})
    insert_people(dbs, people, AS_OF - dt.timedelta(hours=1))

    summary = run(population, DAY1)

    assert_accounted(summary)
    assert quarantined(dbs, population.code, summary["load_id"]) == {}
    loaded = dict(dbs.query("SELECT id_number, name FROM base_population.person"))
    assert loaded["360102198503151203"] == "全角数字"            # full-width digits: NFKC
    assert loaded["360102198503151238"] == "尾随空格"            # trailing space trimmed
    assert loaded["360102198503151254"] == "姓名前后空格"        # name padded with a space and U+3000
    assert loaded["36010219900101107X"] == "小写x"               # lower-case check character upper-cased
    assert loaded["11010519491231002X"] == "张三"                # invisible characters and padding
    normalised = dbs.scalar("SELECT values_normalised FROM ops.load_run WHERE load_id = %s", (summary["load_id"],))
    assert normalised == {"id_number: NFKC": 1, "id_number: invisible characters removed": 1,
                          "id_number: trimmed": 1, "id_number: upper-cased": 2, "name: trimmed": 2}


# -- 4. timestamp without time zone, and date, incremental columns -------------------------------
def test_a_timestamp_without_time_zone_is_read_in_the_providers_zone(dbs, population):
    ids = fill_population(dbs)
    source_execute(dbs, "ALTER TABLE frontend.population_person ALTER COLUMN updated_at TYPE timestamp "
                        "USING updated_at AT TIME ZONE 'Asia/Shanghai'")
    first = run(population, DAY1)
    assert_accounted(first)
    # the wall times of the provider (UTC+8): DAY2 is 2026-11-02 00:00 .. 24:00 local
    wall = {ids[0]: "2026-11-02 10:00", ids[1]: "2026-11-02 23:30", ids[2]: "2026-11-03 00:30"}
    source_execute(dbs, "UPDATE frontend.population_person SET address = address || '（迁）', updated_at = %s "
                        "WHERE id_number = %s", many=[(w, i) for i, w in wall.items()])

    second = run(population, DAY2)

    assert second["mode"] == "incremental" and second["rows_updated"] == 2
    stored = dict(dbs.query("SELECT id_number, updated_at FROM base_population.person WHERE id_number = ANY(%s)",
                            (list(wall),)))
    assert stored[ids[0]] == dt.datetime(2026, 11, 2, 2, tzinfo=UTC)
    assert stored[ids[1]] == dt.datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
    assert stored[ids[2]] < dt.datetime(2026, 11, 1, 16, tzinfo=UTC)   # after the interval: not read yet
    assert dbs.scalar("SELECT max_source_updated_at FROM ops.load_run WHERE load_id = %s",
                      (second["load_id"],)) == dt.datetime(2026, 11, 2, 15, 30, tzinfo=UTC)


def test_a_date_incremental_column_covers_the_providers_local_day(dbs, population):
    ids = fill_population(dbs)
    source_execute(dbs, "ALTER TABLE frontend.population_person ALTER COLUMN updated_at TYPE date "
                        "USING (updated_at AT TIME ZONE 'Asia/Shanghai')::date")
    run(population, DAY1)
    source_execute(dbs, "UPDATE frontend.population_person SET address = address || '（迁）', updated_at = %s "
                        "WHERE id_number = %s", many=[("2026-11-02", ids[0]), ("2026-11-03", ids[1])])

    second = run(population, DAY2)

    assert second["mode"] == "incremental" and second["rows_updated"] == 1
    assert dbs.scalar("SELECT updated_at FROM base_population.person WHERE id_number = %s", (ids[0],)) \
        == dt.datetime(2026, 11, 2, tzinfo=SHANGHAI)


# -- 2. one bad value in an API record quarantines that record alone ----------------------------
@pytest.fixture
def api(monkeypatch):
    records, _ = certificates.generate(60, 3, AS_OF, ["11010519491231002X", "360426199101010071"],
                                       ["91110000600037341L", "91110108551385082Q"], unmatched_rate=0,
                                       defect_rates={kind: 0.0 for kind in certificates.DEFECTS})
    server = certificates.CertificateApiServer(records, token=secrets.token_urlsafe(16)).start()
    monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", server.connection_uri())
    yield server
    server.stop()


def _z(ts: dt.datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def test_nul_in_api_text_quarantines_that_certificate_and_the_other_changes_load(dbs, api):
    entry = catalog_entry("base_e_certificate.certificate")
    assert run(entry, DAY1)["rows_quarantined"] == 0
    changed_at = _z(dt.datetime(2026, 11, 2, 8, tzinfo=UTC))
    changes = [{**r, "issuer_name": r["issuer_name"] + "（变更）", "updated_at": changed_at} for r in api.records[:52]]
    changes[7]["cert_name"] = "营业执照\u0000"
    api.upsert(changes)

    summary = run(entry, DAY2)

    assert_accounted(summary)
    assert (summary["rows_inserted"], summary["rows_updated"], summary["rows_quarantined"]) == (0, 51, 1)
    reason, source_row = quarantined(dbs, CERTIFICATES, summary["load_id"])[changes[7]["cert_identifier"]]
    assert f"证照名称(cert_name) {NUL_REASON}" in reason
    assert source_row["cert_name"] == "营业执照" + NUL_SHOWN
    assert run(entry, DAY2)["status"] == "success"   # and every rerun succeeds too


def test_an_epoch_millisecond_date_quarantines_that_certificate_and_29_load(dbs, api):
    entry = catalog_entry("base_e_certificate.certificate")
    api.records = api.records[:30]
    bad = api.records[11]
    api.upsert([{**bad, "issue_date": 1740787200000}])
    newest = max(r["updated_at"] for r in api.records)

    summary = run(entry, DAY1)

    assert_accounted(summary)
    assert (summary["rows_extracted"], summary["rows_inserted"], summary["rows_quarantined"]) == (30, 29, 1)
    reason, source_row = quarantined(dbs, CERTIFICATES, summary["load_id"])[bad["cert_identifier"]]
    assert reason == ("值与目录声明的数据类型不符或无法存储 / a value is not of its item's declared type or cannot be "
                      "stored（颁发日期(issue_date) 1740787200000 不是D型 / is not a D value (expected an ISO date "
                      "string, got int)）")  # one cause, one reason: not also "颁发日期(issue_date) 为空"
    assert source_row["issue_date"] is None
    assert dbs.scalar("SELECT max_source_updated_at FROM ops.load_run WHERE load_id = %s", (summary["load_id"],)) \
        == dt.datetime.fromisoformat(newest)


# -- 2. NUL in a GBK CSV field (file drop) -------------------------------------------------------
def test_nul_in_a_gbk_csv_field_quarantines_that_row_and_11_load(dbs, landing):
    for folder, name in (("statistics/indicator", "indicators.gbk.csv"),
                         ("statistics/indicator_value", "indicator-value-nul-byte.gbk.csv")):
        land(landing / folder, name, (REAL_WORLD / name).read_bytes())
    run(catalog_entry("base_macro_economy.indicator"), DAY1)
    entry = catalog_entry("base_macro_economy.indicator_value")

    summary = run(entry, DAY1)

    assert_accounted(summary)
    assert (summary["rows_inserted"], summary["rows_quarantined"]) == (11, 1)
    reason, source_row = quarantined(dbs, entry.code, summary["load_id"])["A0201/360100/2024"]
    assert f"数值(value) {NUL_REASON}" in reason
    assert source_row["value"] == "7203.5" + NUL_SHOWN
    rerun = run(entry, DAY2)
    assert rerun["status"] == "success"


# -- property: arbitrary storable text round-trips through every source kind --------------------
STORABLE = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
SPECIAL = ["\t", "a\tb", "line\nbreak", "cr\rlf\r\n", "back\\slash", "\\N", "\\.", '"quoted"', "'single'",
           "𠀀", "䶮", "NULL", "NA", "N/A", "null", "", "   ", "\u3000全角空格\u3000", "\u200b零宽\u200b", "a,b", "😀",
           "=1+1", "_x000D_"]
_example_no = itertools.count()
PROPERTY = settings(max_examples=5, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def tolerant(entry):
    """``entry`` with no quarantine threshold: generated texts may be blank in any share."""
    return entry.model_copy(update={"pipeline": entry.pipeline.model_copy(update={"quarantine_threshold": 1.0})})


def _expect_loaded_or_missing(texts: list[str], loaded: dict, missing: dict, keys: list[str], label: str) -> None:
    """Each text loads as itself after trimming; one blank after trimming is quarantined as missing."""
    for key, text in zip(keys, texts):
        if trimmed(text):
            assert loaded.get(key) == trimmed(text), (key, text)
        else:
            assert f"{label} 为空 / value is missing" in missing[key][0], (key, text)


@PROPERTY
@given(texts=st.lists(STORABLE, min_size=1, max_size=60))
@example(texts=SPECIAL)
def test_any_text_round_trips_through_the_database_source(dbs, population, texts):
    if dbs.scalar("SELECT to_regclass('frontend.population_person') IS NULL", db="source"):
        fill_population(dbs, rows=60)
    ids = [r[0] for r in dbs.query("SELECT id_number FROM frontend.population_person ORDER BY row_id LIMIT %s",
                                   (len(texts),), db="source")]
    source_execute(dbs, "UPDATE frontend.population_person SET address = %s WHERE id_number = %s",
                   many=list(zip(texts, ids)))
    summary = run(population, DAY1, mode="full")
    assert_accounted(summary)
    loaded = dict(dbs.query("SELECT id_number, address FROM base_population.person WHERE id_number = ANY(%s)",
                            (ids,)))
    for id_number, text in zip(ids, texts):  # address is optional: a blank one loads as ''
        assert loaded[id_number] == trimmed(text), (id_number, text)


@PROPERTY
@given(texts=st.lists(STORABLE, min_size=1, max_size=60))
@example(texts=SPECIAL)
def test_any_text_round_trips_through_the_api_source_and_nul_is_quarantined(dbs, api, texts):
    entry = tolerant(catalog_entry("base_e_certificate.certificate"))
    if not hasattr(api, "original"):
        api.original = api.records
    api.records = api.original  # each example starts from the same served records
    base = api.records[:len(texts) + 1]
    stamp = _z(AS_OF + dt.timedelta(seconds=next(_example_no)))  # newer each example: never a stale version
    served = [{**r, "holder_name": text, "updated_at": stamp} for r, text in zip(base, texts)]
    served.append({**base[-1], "holder_name": "含\u0000空字符", "updated_at": stamp})
    api.upsert(served)
    summary = run(entry, DAY1, mode="full")
    assert_accounted(summary)
    keys = [r["cert_identifier"] for r in served]
    loaded = dict(dbs.query("SELECT cert_identifier, holder_name FROM base_e_certificate.certificate "
                            "WHERE cert_identifier = ANY(%s)", (keys,)))
    missing = quarantined(dbs, CERTIFICATES, summary["load_id"])
    _expect_loaded_or_missing(texts, loaded, missing, keys[:-1], "持证主体(holder_name)")
    assert f"持证主体(holder_name) {NUL_REASON}" in missing[keys[-1]][0]


def _indicator_rows(texts: list[str], tag: int, nul: bool = True) -> list[list[str]]:
    rows = [[f"P{tag:03d}{n:04d}", text, "亿元", "是", "年"] for n, text in enumerate(texts)]
    return rows + ([[f"P{tag:03d}NUL", "含\u0000空字符", "亿元", "是", "年"]] if nul else [])


def _csv(rows: list[list[str]], encoding: str) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["指标代码", "指标名称", "计量单位", "可加总", "统计频率"])
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def _as_excel_stores(text: str) -> str:
    """A cell's text as Excel writes it into the sheet (ECMA-376 ST_Xstring): the underscore of
    a literal ``_xHHHH_`` is escaped, and characters XML cannot hold (controls, CR) are ``_xHHHH_``.
    openpyxl writes cells as given, so the test does what Excel does."""
    text = re.sub(r"_(?=x[0-9A-Fa-f]{4}_)", "_x005F_", text)
    return re.sub(r"[\x01-\x08\x0b-\x1f]", lambda m: f"_x{ord(m.group()):04X}_", text)


def _xlsx(rows: list[list[str]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["指标代码", "指标名称", "计量单位", "可加总", "统计频率"])
    for row in rows:
        sheet.append([_as_excel_stores(v) if isinstance(v, str) else v for v in row])
        for cell in sheet[sheet.max_row]:
            cell.data_type = "s"  # a text starting with '=' is text, not a formula
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _gbk_encodable(text: str) -> bool:
    try:
        text.encode("gbk")
        return True
    except UnicodeEncodeError:
        return False


@PROPERTY
@given(texts=st.lists(STORABLE, min_size=1, max_size=60))
@example(texts=SPECIAL)
def test_any_text_round_trips_through_csv_and_excel_drops_and_nul_is_quarantined(dbs, landing, texts):
    entry = tolerant(catalog_entry("base_macro_economy.indicator"))
    tag = next(_example_no)
    gbk = [t for t in texts if _gbk_encodable(t)]
    excel = [t for t in texts if "\x00" not in t]  # NUL: see the CSV files
    files = {f"utf8-{tag}.csv": (texts, _csv(_indicator_rows(texts, tag * 3), "utf-8")),
             f"gbk-{tag}.csv": (gbk, _csv(_indicator_rows(gbk, tag * 3 + 1), "gbk")),
             f"excel-{tag}.xlsx": (excel, _xlsx(_indicator_rows(excel, tag * 3 + 2, nul=False)))}
    for name, (_, data) in files.items():
        land(landing / "statistics/indicator", name, data)
    summary = run(entry, DAY1)
    assert_accounted(summary)
    missing = quarantined(dbs, entry.code, summary["load_id"])
    loaded = dict(dbs.query("SELECT indicator_code, indicator_name FROM base_macro_economy.indicator"))
    for n, (name, (kept, _)) in enumerate(files.items()):
        keys = [f"P{tag * 3 + n:03d}{i:04d}" for i in range(len(kept))]
        _expect_loaded_or_missing(kept, loaded, missing, keys, "指标名称(indicator_name)")
        if name.endswith(".csv"):  # XML, so .xlsx, cannot hold a NUL at all
            assert f"指标名称(indicator_name) {NUL_REASON}" in missing[f"P{tag * 3 + n:03d}NUL"][0], name


# -- value-level problems in API records: row level, never the page ------------------------------
class OnePage:
    """A real loopback server answering every request with one page of ``items``."""

    def __init__(self, items: list, body: bytes | None = None):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        body = body or json.dumps({"items": items, "next_cursor": None}, ensure_ascii=False).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self) -> str:
        import threading

        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return f"http://:t@127.0.0.1:{self.httpd.server_address[1]}/"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _extract_page(items: list, tmp_path, monkeypatch, resource=None, body: bytes | None = None):
    import pyarrow as pa

    from baselib.sources.http_api import HttpApiSource
    from baselib.sources.window import ExtractWindow
    from baselib.storage import read_part

    with OnePage(items, body) as uri:
        monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", uri)
        result = HttpApiSource(resource or catalog_entry("base_e_certificate.certificate")).extract(
            ExtractWindow(None, None), (tmp_path / "x").as_uri(), 1000)
    table = pa.concat_tables(read_part(p) for p in result.parts)
    return result, {r["cert_identifier"]: r for r in table.to_pylist()}


@pytest.mark.parametrize("field, value, shown", [
    ("issue_date", 1740787200000, "颁发日期(issue_date) 1740787200000 不是D型 / is not a D value"),
    ("issue_date", {"year": 2025}, "颁发日期(issue_date) {'year': 2025} 不是D型"),
    ("issue_date", "2025/03/01", "颁发日期(issue_date) '2025/03/01' 不是D型"),
    ("valid_to", "2025-02-30", "有效期止(valid_to) '2025-02-30' 不是D型"),
    ("long_term", "yes?", "长期有效(long_term) 'yes?' 不是L型 / is not a L value"),
    ("long_term", 2, "长期有效(long_term) 2 不是L型"),
    ("updated_at", 1740787200000, "更新时间(updated_at) 1740787200000 不是T型 / is not a T value"),
    ("updated_at", "2026-13-45T00:00:00Z", "更新时间(updated_at) '2026-13-45T00:00:00Z' 不是T型"),
    # overflow is a problem of the record too (review defect 3), and a date's tail must be a time (defect 2)
    ("updated_at", "0001-01-01T00:00:00", "更新时间(updated_at) '0001-01-01T00:00:00' 不是T型 / is not a T value"),
    ("updated_at", "9999-12-31T23:59:59-08:00", "更新时间(updated_at) '9999-12-31T23:59:59-08:00' 不是T型"),
    ("valid_from", "0001-01-01T00:00:00+09:00", "有效期起(valid_from) '0001-01-01T00:00:00+09:00' 不是D型"),
    ("issue_date", "2025-03-01Tjunk", "颁发日期(issue_date) '2025-03-01Tjunk' 不是D型 / is not a D value"),
    ("issue_date", "2025-03-01 25:00", "颁发日期(issue_date) '2025-03-01 25:00' 不是D型"),
])
def test_a_value_of_the_wrong_type_keeps_its_record_with_the_problem_as_evidence(
        tmp_path, monkeypatch, field, value, shown):
    records, _ = certificates.generate(5, 4, AS_OF, ["11010519491231002X"], ["91110000600037341L"], unmatched_rate=0,
                                       defect_rates={kind: 0.0 for kind in certificates.DEFECTS})
    records[2] = {**records[2], field: value, "updated_at": records[2]["updated_at"] if field != "updated_at" else value}
    newest_good = max(dt.datetime.fromisoformat(r["updated_at"]) for n, r in enumerate(records)
                      if n != 2 or field != "updated_at")

    result, rows = _extract_page(records, tmp_path, monkeypatch)

    assert result.rows == 5
    bad = rows[records[2]["cert_identifier"]]
    assert bad[field] is None and shown in bad["_conversion_error"]
    assert all(r["_conversion_error"] is None for k, r in rows.items() if k != records[2]["cert_identifier"])
    if field == "updated_at":  # an unreadable incremental value never moves the watermark
        assert result.max_incremental == newest_good


def test_records_without_their_key_are_kept_for_quarantine_not_merged(tmp_path, monkeypatch):
    records, _ = certificates.generate(3, 4, AS_OF, ["11010519491231002X"], ["91110000600037341L"], unmatched_rate=0,
                                       defect_rates={kind: 0.0 for kind in certificates.DEFECTS})
    keyless = [{k: v for k, v in records[0].items() if k != "cert_identifier"},
               {**records[1], "cert_identifier": None}]

    result, rows = _extract_page(records + keyless, tmp_path, monkeypatch)

    assert result.rows == 5 and list(rows).count(None) == 1   # both keyless rows kept (the dict shows one)
    assert rows[None]["cert_name"] == records[1]["cert_name"]


def test_api_times_without_an_offset_are_the_providers_wall_times(tmp_path, monkeypatch):
    records, _ = certificates.generate(2, 4, AS_OF, ["11010519491231002X"], ["91110000600037341L"], unmatched_rate=0,
                                       defect_rates={kind: 0.0 for kind in certificates.DEFECTS})
    records[0] = {**records[0], "updated_at": "2026-11-01T08:00:00"}
    records[1] = {**records[1], "updated_at": "2026-11-01T08:00:00Z"}
    entry = catalog_entry("base_e_certificate.certificate")
    in_utc = entry.model_copy(update={"provider": entry.provider.model_copy(update={"timezone": "UTC"})})

    _, rows = _extract_page(records, tmp_path, monkeypatch)
    _, rows_utc = _extract_page(records, tmp_path / "utc", monkeypatch, resource=in_utc)

    assert rows[records[0]["cert_identifier"]]["updated_at"] == dt.datetime(2026, 11, 1, 0, tzinfo=UTC)
    assert rows[records[1]["cert_identifier"]]["updated_at"] == dt.datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert rows_utc[records[0]["cert_identifier"]]["updated_at"] == dt.datetime(2026, 11, 1, 8, tzinfo=UTC)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(texts=st.lists(st.none() | STORABLE, min_size=1, max_size=50))
@example(texts=[*SPECIAL, None])
def test_copy_into_the_warehouse_keeps_any_text_and_null_apart(pg_server, texts):
    import psycopg2
    import pyarrow as pa
    from psycopg2 import sql

    from baselib.pgcopy import copy_table

    conn = psycopg2.connect(pg_server)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE copied (n int, v text)")
            copy_table(cur, pa.table({"n": list(range(len(texts))), "v": pa.array(texts, pa.string())}),
                       sql.Identifier("copied"), ["n", "v"])
            cur.execute("SELECT v FROM copied ORDER BY n")
            assert [r[0] for r in cur.fetchall()] == texts
    finally:
        conn.close()


def _served(records: list, tokens: dict[str, str]) -> bytes:
    """A page of ``records`` whose placeholder strings are replaced by raw JSON tokens, as an API
    would write them (ASCII-escaped, so lone surrogates travel as ``\\udxxx``)."""
    text = json.dumps({"items": records, "next_cursor": None})
    for placeholder, token in tokens.items():
        text = text.replace(json.dumps(placeholder), token)
    return text.encode()


def _records(n: int) -> list[dict]:
    records, _ = certificates.generate(n, 4, AS_OF, ["11010519491231002X"], ["91110000600037341L"], unmatched_rate=0,
                                       defect_rates={kind: 0.0 for kind in certificates.DEFECTS})
    return records


def test_api_date_times_for_date_items_are_dates_where_the_provider_is(tmp_path, monkeypatch):
    records = _records(4)
    records[0] = {**records[0], "issue_date": "2025-02-28T16:00:00.000Z"}   # local midnight 2025-03-01 +08 in UTC
    records[1] = {**records[1], "issue_date": "2025-02-28T15:59:59Z", "valid_to": "2030-01-01T00:00:00"}
    records[2] = {**records[2], "valid_from": "2025-03-01 08:00:00+08:00"}

    _, rows = _extract_page(records, tmp_path, monkeypatch)

    first, second, third = (rows[r["cert_identifier"]] for r in records[:3])
    assert first["issue_date"] == dt.date(2025, 3, 1) and first["_conversion_error"] is None
    assert (second["issue_date"], second["valid_to"]) == (dt.date(2025, 2, 28), dt.date(2030, 1, 1))
    assert third["valid_from"] == dt.date(2025, 3, 1)


def test_a_lone_surrogate_in_api_text_keeps_its_record_shown_and_named(tmp_path, monkeypatch):
    records = _records(5)
    records[1] = {**records[1], "cert_name": "营业执照\ud83d"}
    records[3] = {**records[3], "holder_name": "\udc00张三", "cert_number": "No.\udfff1"}

    result, rows = _extract_page(records, tmp_path, monkeypatch, body=_served(records, {}))

    assert result.rows == 5
    bad = rows[records[1]["cert_identifier"]]
    assert bad["cert_name"] == "营业执照\ufffd"
    assert bad["_conversion_error"] == ("证照名称(cert_name) 含无效 Unicode 字符（孤立代理项 U+D83D，显示为 U+FFFD）/ "
                                        "contains invalid Unicode (lone surrogate U+D83D, shown as U+FFFD), "
                                        "which PostgreSQL cannot store")
    two = rows[records[3]["cert_identifier"]]
    assert (two["holder_name"], two["cert_number"]) == ("\ufffd张三", "No.\ufffd1")
    assert "持证主体(holder_name) 含无效 Unicode" in two["_conversion_error"]
    assert "证照编号(cert_number) 含无效 Unicode 字符（孤立代理项 U+DFFF" in two["_conversion_error"]
    assert [k for k, r in rows.items() if r["_conversion_error"]] == [records[1]["cert_identifier"],
                                                                      records[3]["cert_identifier"]]


def test_a_lone_surrogate_is_quarantined_and_the_other_certificates_load(dbs, monkeypatch):
    entry = catalog_entry("base_e_certificate.certificate")
    records = _records(10)
    records[4] = {**records[4], "cert_name": "营业执照\ud83d"}

    with OnePage(records, _served(records, {})) as uri:
        monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", uri)
        summary = run(entry, DAY1)

    assert_accounted(summary)
    assert (summary["rows_inserted"], summary["rows_quarantined"]) == (9, 1)
    reason, source_row = quarantined(dbs, CERTIFICATES, summary["load_id"])[records[4]["cert_identifier"]]
    assert "证照名称(cert_name) 含无效 Unicode 字符（孤立代理项 U+D83D" in reason
    assert source_row["cert_name"] == "营业执照\ufffd"


NUMBER_TOKENS = ["0.1234567890123456789", "100.10", "1e21", "1E+21", "-0.0", "12345678901234567890123",
                 "100", "5e-7", "3.14159265358979323846264338327950288"]


def test_numbers_in_api_text_items_arrive_as_the_provider_wrote_them(tmp_path, monkeypatch):
    records = _records(len(NUMBER_TOKENS))
    tokens = {}
    for n, (record, token) in enumerate(zip(records, NUMBER_TOKENS)):
        record["cert_number"] = f"@number{n}@"
        tokens[f"@number{n}@"] = token

    result, rows = _extract_page(records, tmp_path, monkeypatch, body=_served(records, tokens))

    assert result.rows == len(NUMBER_TOKENS)
    assert [rows[r["cert_identifier"]]["cert_number"] for r in records] == NUMBER_TOKENS
    assert all(r["_conversion_error"] is None for r in rows.values())


def test_api_integers_beyond_bigint_and_numbers_keep_their_record(tmp_path, monkeypatch):
    from baselib.catalog.model import DataType, Item

    entry = catalog_entry("base_e_certificate.certificate")
    extra = [Item(name="fee", label="收费金额", type=DataType.I), Item(name="amount", label="金额", type=DataType.N),
             Item(name="rate", label="费率", type=DataType.F)]
    entry = entry.model_copy(update={"items": [*entry.items, *extra]})
    records = _records(6)
    values = [("9223372036854775807", "100.10", "0.5"), ("9223372036854775808", "1e21", "1e400"),
              ("-9223372036854775809", "7", "2"), ("1.5", "0.1234567890123456789", "1E+2"),
              ("12345678901234567890123", "-3", "3"), ("2.0", "1", "0.1")]
    tokens = {}
    for n, (record, row) in enumerate(zip(records, values)):
        for name, token in zip(("fee", "amount", "rate"), row):
            record[name] = f"@{name}{n}@"
            tokens[f"@{name}{n}@"] = token

    result, rows = _extract_page(records, tmp_path, monkeypatch, resource=entry, body=_served(records, tokens))

    assert result.rows == 6
    got = [rows[r["cert_identifier"]] for r in records]
    assert [r["fee"] for r in got] == [2 ** 63 - 1, None, None, None, None, 2]
    assert [r["amount"] for r in got] == ["100.10", "1e21", "7", "0.1234567890123456789", "-3", "1"]
    assert [r["rate"] for r in got] == [0.5, None, 2.0, 100.0, 3.0, 0.1]
    assert got[0]["_conversion_error"] is None and got[5]["_conversion_error"] is None
    assert got[1]["_conversion_error"] == (
        "收费金额(fee) 9223372036854775808 不是I型 / is not a I value (outside the 64-bit integer range (bigint)); "
        "费率(rate) 1e400 不是F型 / is not a F value (outside the double precision range)")
    assert got[2]["_conversion_error"].startswith("收费金额(fee) -9223372036854775809 不是I型")
    assert got[3]["_conversion_error"].startswith("收费金额(fee) 1.5 不是I型")
    assert got[4]["_conversion_error"].startswith("收费金额(fee) 12345678901234567890123 不是I型")


# -- the database source: a value of the wrong type quarantines its row alone (review defect 4) ------
def _set_birth_dates(dbs, ids: list[str], column_type: str, values: list[str]) -> None:
    source_execute(dbs, f"ALTER TABLE frontend.population_person ALTER COLUMN birth_date TYPE {column_type} "
                        f"USING birth_date::text::{column_type}")
    source_execute(dbs, "UPDATE frontend.population_person SET birth_date = %s WHERE id_number = %s",
                   many=list(zip(values, ids)))


@pytest.mark.parametrize("column_type, values", [
    ("date", ["infinity", "-infinity"]),
    ("varchar(20)", ["2024-02-30", "1990-13-01", "yesterday", "1990-01-01Tjunk"]),
    ("text", ["infinity", "0001-01-01T00:00:00+09:00"]),
])
def test_a_database_value_not_of_its_items_type_quarantines_its_row_alone(dbs, population, column_type, values):
    ids = fill_population(dbs)
    _set_birth_dates(dbs, ids[:len(values)], column_type, values)

    summary = run(population, DAY1)

    assert_accounted(summary)
    assert (summary["rows_inserted"], summary["rows_quarantined"]) == (40 - len(values), len(values))
    bad = quarantined(dbs, population.code, summary["load_id"])
    for id_number, value in zip(ids, values):
        reason, source_row = bad[id_number]
        assert f"出生日期(birth_date) {value!r} 不是D型 / is not a D value" in reason, (value, reason)
        assert source_row["birth_date"] is None


def test_a_varchar_column_of_good_dates_and_date_times_loads(dbs, population):
    ids = fill_population(dbs)
    born = dict(dbs.query("SELECT id_number, birth_date FROM frontend.population_person", db="source"))
    day_before = [born[i] - dt.timedelta(days=1) for i in ids[:3]]
    _set_birth_dates(dbs, ids[:3], "varchar(40)", [f"{born[ids[0]]}", f"{day_before[1]}T16:00:00Z",   # +08 midnight
                                                   f"{born[ids[2]]} 23:59:59"])

    summary = run(population, DAY1)

    assert (summary["rows_inserted"], summary["rows_quarantined"]) == (40, 0)
    loaded = dict(dbs.query("SELECT id_number, birth_date FROM base_population.person WHERE id_number = ANY(%s)",
                            (ids[:3],)))
    assert loaded == {i: born[i] for i in ids[:3]}


def test_a_varchar_time_behind_a_t_item_is_the_providers_wall_time(dbs, population, tmp_path):
    import pyarrow as pa

    from baselib.sources.postgres_table import PostgresTableSource
    from baselib.sources.window import ExtractWindow
    from baselib.storage import read_part

    ids = fill_population(dbs)
    source_execute(dbs, "ALTER TABLE frontend.population_person ALTER COLUMN updated_at TYPE varchar(40) "
                        "USING to_char(updated_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS')")
    walls = ["2026-11-01 10:00:00", "2026-11-01 10:00:00+00", "soon", "0001-01-01 00:00:00", "2026-11-01T23:59:59.5"]
    source_execute(dbs, "UPDATE frontend.population_person SET updated_at = %s WHERE id_number = %s",
                   many=list(zip(walls, ids)))

    result = PostgresTableSource(population).extract(ExtractWindow(None, None), (tmp_path / "x").as_uri(), 1000)

    rows = {r["id_number"]: r for r in pa.concat_tables(read_part(p) for p in result.parts).to_pylist()}
    assert result.rows == 40
    assert rows[ids[0]]["updated_at"] == dt.datetime(2026, 11, 1, 2, tzinfo=UTC)
    assert rows[ids[1]]["updated_at"] == dt.datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert rows[ids[4]]["updated_at"] == dt.datetime(2026, 11, 1, 15, 59, 59, 500000, tzinfo=UTC)
    for n in (2, 3):
        assert rows[ids[n]]["updated_at"] is None
        assert rows[ids[n]]["_conversion_error"].startswith(f"更新时间(updated_at) {walls[n]!r} 不是T型")
    assert [k for k, r in rows.items() if r["_conversion_error"]] == [ids[2], ids[3]]
