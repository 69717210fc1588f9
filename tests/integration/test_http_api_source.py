"""The HTTP API source against the simulated e-licence API on a real loopback socket (no mocks).

No database is needed: extract only writes Parquet parts under a temporary directory.
"""
from __future__ import annotations

import datetime as dt
import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from baselib.catalog.model import Resource
from baselib.errors import SourceError
from baselib_simulators import certificates
from baselib_simulators.certificates import CertificateApiServer
from baselib.sources import for_resource
from baselib.sources.extract import ROW_ID
from baselib.sources.http_api import HttpApiSource, parse_connection
from baselib.sources.window import ExtractWindow
from baselib.storage import read_part

UTC = dt.timezone.utc
AS_OF = dt.datetime(2026, 11, 1, tzinfo=UTC)
TOKEN = "s3cret-token/with+chars"
CONN_ID = "e_licence_api"

ITEMS = [
    ("cert_identifier", "证照标识", "C", 100, {"nullable": False, "key": True}),
    ("cert_name", "证照名称", "C", 100, {"nullable": False}),
    ("cert_type_name", "证照类型名称", "C", 100, {}),
    ("cert_type_code", "证照类型代码", "C", 21, {"nullable": False}),
    ("cert_number", "证照编号", "C", 50, {"nullable": False}),
    ("holder_name", "持证主体", "C", 200, {"nullable": False, "personal": True}),
    ("holder_code", "持证主体代码", "C", 18, {"nullable": False, "personal": True}),
    ("holder_code_type", "持证主体代码类型", "C", 3, {"nullable": False}),
    ("issuer_name", "证照颁发机构", "C", 200, {"nullable": False}),
    ("issuer_code", "颁发机构代码", "C", 18, {"nullable": False}),
    ("issue_date", "颁发日期", "D", None, {"nullable": False}),
    ("valid_from", "有效期起", "D", None, {"nullable": False}),
    ("valid_to", "有效期止", "D", None, {}),
    ("long_term", "长期有效", "L", None, {"nullable": False}),
    ("jurisdiction_code", "管辖属地编码", "C", 6, {"nullable": False}),
    ("status", "证照状态", "C", 4, {"nullable": False}),
    ("updated_at", "更新时间", "T", None, {"nullable": False}),
]


def certificate_resource(page_size: int = 500, timeout_seconds: float = 30, max_retries: int = 5,
                         conn_id: str = CONN_ID, items=ITEMS) -> Resource:
    """A catalog entry for base_e_certificate.certificate, built in code (no YAML yet)."""
    return Resource.model_validate({
        "classification": {"class_code": "1", "item": "05", "category": "001"},
        "name": "电子证照基本信息",
        "code": "105001/000001",
        "provider": {"name": "省政务服务管理局", "code": "11360000014400005D"},
        "summary": "全省电子证照的核心元数据（GB/T 36903）。",
        "format": "服务接口",
        "items": [
            {"name": name, "label": label, "type": type_, **({"length": length} if length else {}), **extra}
            for name, label, type_, length, extra in items
        ],
        "sharing": {"type": "有条件共享", "condition": "依法履职需要", "method": "共享平台方式/接口"},
        "open": {"open_to_public": False},
        "update_cycle": "每日",
        "publish_date": "2026-11-01",
        "pipeline": {
            "source": {"kind": "http_api", "conn_id": conn_id, "endpoint": "/api/v1/certificates",
                       "page_size": page_size, "incremental_column": "updated_at",
                       "timeout_seconds": timeout_seconds, "max_retries": max_retries},
            "target": {"schema": "base_e_certificate", "table": "certificate"},
            "key_columns": ["cert_identifier"],
            "expectation_suite": "base_e_certificate.certificate",
            "quarantine_threshold": 0.1,
            "chunk_rows": 1000,
        },
    })


@pytest.fixture(scope="module")
def records() -> list[dict]:
    citizen = ["11010519491231002X", "360426199101010071", "120103198806018241", "34052419800101001X"]
    orgs = ["91110000600037341L", "91110108551385082Q", "91350100M000100Y43"]
    recs, _ = certificates.generate(1200, seed=11, as_of=AS_OF, citizen_ids=citizen, credit_codes=orgs)
    return recs


@pytest.fixture
def server(records, monkeypatch):
    with CertificateApiServer(records, TOKEN) as srv:
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", srv.connection_uri())
        yield srv


FULL = ExtractWindow(None, None)


def _extract(tmp_path, window=FULL, chunk_rows=1000, backoff=0.01, **kwargs):
    source = HttpApiSource(certificate_resource(**kwargs), backoff_base=backoff)
    result = source.extract(window, (tmp_path / "extract").as_uri(), chunk_rows)
    table = pa.concat_tables(read_part(p) for p in result.parts)
    return source, result, table


def _ids(table) -> list[str]:
    return table["cert_identifier"].to_pylist()


def test_for_resource_picks_the_http_source():
    assert isinstance(for_resource(certificate_resource()), HttpApiSource)


def test_connection_forms():
    c = parse_connection("http://:tok%2Fen@127.0.0.1:8765/")
    assert (c.base_url, c.token) == ("http://127.0.0.1:8765", "tok/en")
    c = parse_connection("https://api.example.gov.cn/gateway")
    assert (c.base_url, c.token) == ("https://api.example.gov.cn/gateway", None)
    c = parse_connection("http://:t@h:1/https")  # Airflow keeps the scheme of an http conn in `schema`
    assert c.base_url == "https://h:1"
    c = parse_connection(json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 9, "password": "p",
                                     "schema": "http"}))
    assert (c.base_url, c.token) == ("http://127.0.0.1:9", "p")


def test_missing_connection_is_a_source_error(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_API", raising=False)
    source = HttpApiSource(certificate_resource(conn_id="no_such_api"))
    with pytest.raises(SourceError, match="AIRFLOW_CONN_NO_SUCH_API"):
        source.extract(FULL, (tmp_path / "x").as_uri(), 1000)


def test_full_paging_returns_every_record_exactly_once(server, tmp_path):
    source, result, table = _extract(tmp_path, page_size=97)
    expected = [r["cert_identifier"] for r in server.records]
    assert result.rows == table.num_rows == len(expected) == 1200
    assert _ids(table) == expected                      # API order, no duplicates, no drops
    assert result.missing_columns == [] and result.columns == [i[0] for i in ITEMS]
    assert result.max_incremental == max(certificates.parse_timestamp(r["updated_at"]) for r in server.records)
    assert source.requests_made == -(-1200 // 97)
    assert len(result.parts) == 2                       # ~chunk_rows per part


def test_parts_are_typed_from_the_catalog(server, tmp_path):
    _, result, table = _extract(tmp_path, chunk_rows=500, page_size=300)
    schema = pq.read_schema(result.parts[0].removeprefix("file://"))
    assert schema.field("issue_date").type == pa.date32()
    assert schema.field("valid_to").type == pa.date32()
    assert schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("long_term").type == pa.bool_()
    assert schema.field("holder_code").type == pa.string()
    assert schema.field(ROW_ID).type == pa.int64()
    assert [len(read_part(p)) for p in result.parts] == [500, 500, 200]
    assert table[ROW_ID].to_pylist() == list(range(1200))
    by_id = {r["cert_identifier"]: r for r in server.records}
    for row in table.slice(0, 50).to_pylist():
        src = by_id[row["cert_identifier"]]
        assert row["issue_date"].isoformat() == src["issue_date"]
        assert (row["valid_to"].isoformat() if row["valid_to"] else None) == src["valid_to"]
        assert row["long_term"] is src["long_term"]
        assert row["updated_at"] == certificates.parse_timestamp(src["updated_at"])


def test_extra_keys_are_ignored_and_absent_items_reported(server, tmp_path):
    items = ITEMS + [("revocation_reason", "注销原因", "C", 200, {})]
    server.upsert([dict(r, internal_flag="x") for r in server.records[:5]])
    source = HttpApiSource(certificate_resource(items=items), backoff_base=0.01)
    result = source.extract(FULL, (tmp_path / "e").as_uri(), 1000)
    table = pa.concat_tables(read_part(p) for p in result.parts)
    assert result.missing_columns == ["revocation_reason"]
    assert "internal_flag" not in table.column_names and "revocation_reason" not in table.column_names
    assert table.num_rows == 1200 and table[ROW_ID].to_pylist() == list(range(1200))


def test_window_filters_updated_since_and_until(server, tmp_path):
    lower, upper = AS_OF - dt.timedelta(days=200), AS_OF - dt.timedelta(days=20)
    _, result, table = _extract(tmp_path, ExtractWindow(lower, upper), page_size=50)
    expected = [r["cert_identifier"] for r in server.records
                if lower < certificates.parse_timestamp(r["updated_at"]) <= upper]
    assert 0 < len(expected) < 1200
    assert _ids(table) == expected
    assert result.max_incremental <= upper


def test_an_empty_window_writes_one_empty_typed_part(server, tmp_path):
    _, result, table = _extract(tmp_path, ExtractWindow(AS_OF, AS_OF + dt.timedelta(days=1)))
    assert result.rows == 0 and len(result.parts) == 1 and result.max_incremental is None
    assert table.num_rows == 0 and table.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert table.column_names[-1] == ROW_ID


def test_wrong_token_fails_at_once_with_401(server, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", server.connection_uri().replace(":s3cret", ":wrong"))
    source = HttpApiSource(certificate_resource(), backoff_base=0.01)
    with pytest.raises(SourceError, match="401") as err:
        source.extract(FULL, (tmp_path / "x").as_uri(), 1000)
    assert "token" in str(err.value)
    assert source.requests_made == 1 and source.retries_made == 0


def test_no_token_is_refused(server, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", server.url + "/")
    with pytest.raises(SourceError, match="401"):
        HttpApiSource(certificate_resource()).extract(FULL, (tmp_path / "x").as_uri(), 1000)


def test_429_retry_after_is_honoured(server, tmp_path):
    server.faults.rate_limit(times=1, retry_after_seconds=1)
    started = time.monotonic()
    source, result, table = _extract(tmp_path, page_size=400, backoff=0.01)
    elapsed = time.monotonic() - started
    assert server.faults.served == {"rate_limit": 1}
    assert elapsed >= 1.0                      # the backoff alone would have waited 0.01 s
    statuses = [r.status for r in server.requests]
    assert statuses[0] == 429 and statuses[1:] == [200, 200, 200]
    assert server.requests[1].at - server.requests[0].at >= 1.0
    assert source.retries_made == 1 and _ids(table) == [r["cert_identifier"] for r in server.records]


def test_503_burst_is_recovered_with_backoff(server, tmp_path):
    server.faults.unavailable(times=3)
    source, result, table = _extract(tmp_path, page_size=400, backoff=0.05)
    assert server.faults.served == {"unavailable": 3}
    gaps = [b.at - a.at for a, b in zip(server.requests, server.requests[1:4])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2    # exponential
    assert source.retries_made == 3 and result.rows == 1200


def test_timeout_is_recovered_by_retrying(server, tmp_path):
    server.faults.slow(times=1, seconds=2)
    source, result, table = _extract(tmp_path, page_size=400, timeout_seconds=0.5)
    assert server.faults.served == {"slow": 1}
    assert source.retries_made == 1 and result.rows == 1200
    assert _ids(table) == [r["cert_identifier"] for r in server.records]


def test_retries_exhausted_is_a_source_error(server, tmp_path):
    server.faults.unavailable(times=10)
    source = HttpApiSource(certificate_resource(max_retries=2), backoff_base=0.01)
    with pytest.raises(SourceError, match=r"failed after 3 attempts.*503"):
        source.extract(FULL, (tmp_path / "x").as_uri(), 1000)
    assert source.requests_made == 3


def test_connection_refused_exhausts_retries(tmp_path, monkeypatch):
    with CertificateApiServer([], TOKEN) as srv:
        uri = srv.connection_uri()
    monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", uri)  # nobody listens there any more
    source = HttpApiSource(certificate_resource(max_retries=1), backoff_base=0.01)
    with pytest.raises(SourceError, match="connection failed"):
        source.extract(FULL, (tmp_path / "x").as_uri(), 1000)


def test_truncated_page_fails_with_a_clear_message(server, tmp_path):
    server.faults.truncate(page_number=2)
    source = HttpApiSource(certificate_resource(page_size=400), backoff_base=0.01)
    with pytest.raises(SourceError) as err:
        source.extract(FULL, (tmp_path / "x").as_uri(), 1000)
    message = str(err.value)
    assert "malformed page 2" in message and "/api/v1/certificates" in message and "not valid JSON" in message
    assert server.faults.served == {"truncate": 1} and source.retries_made == 0


def test_page_without_items_is_malformed(tmp_path, monkeypatch):
    # A (real, loopback) server that answers 200 with JSON of the wrong shape.
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    class Wrong(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps({"data": [1, 2]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Wrong)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_E_LICENCE_API", f"http://:t@127.0.0.1:{httpd.server_address[1]}/")
        with pytest.raises(SourceError, match="malformed page 1 .*'items' list"):
            HttpApiSource(certificate_resource()).extract(FULL, (tmp_path / "x").as_uri(), 1000)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_repeated_page_gives_no_duplicates_and_no_drops(server, tmp_path):
    server.faults.repeat_page(page_number=3)
    source, result, table = _extract(tmp_path, page_size=100, chunk_rows=150)
    assert server.faults.served == {"repeat_page": 1}
    assert source.requests_made == 13                   # 12 real pages + the repeated one
    assert _ids(table) == [r["cert_identifier"] for r in server.records]
    assert result.rows == 1200 and table[ROW_ID].to_pylist() == list(range(1200))


@pytest.mark.parametrize("chunk_rows", [1000, 100], ids=["older-row-still-pending", "older-row-already-written"])
def test_a_record_changed_while_paging_is_kept_once_in_its_newest_version(server, tmp_path, chunk_rows):
    first = server.records[0]
    changed = dict(first, status="注销", updated_at="2026-10-31T23:59:59Z")

    class ChangeAfterFirstPage(HttpApiSource):
        def fetch_page(self, client, params, page_no):
            body = super().fetch_page(client, params, page_no)
            if page_no == 1:
                server.upsert([changed])  # moves to the end of the order: served again on the last page
            return body

    source = ChangeAfterFirstPage(certificate_resource(page_size=100), backoff_base=0.01)
    result = source.extract(FULL, (tmp_path / "c").as_uri(), chunk_rows)
    table = pa.concat_tables(read_part(p) for p in result.parts)
    ids = _ids(table)
    assert len(ids) == len(set(ids)) == 1200 == result.rows
    row = table.filter(pa.compute.equal(table["cert_identifier"], first["cert_identifier"])).to_pylist()[0]
    assert row["status"] == "注销"
    assert table[ROW_ID].to_pylist() == list(range(1200))
    assert result.max_incremental == dt.datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)


# --- unbounded paging: a page cap and a limit on runs of empty pages ---------------------------

def _capped_resource(page_size: int, **source_settings) -> Resource:
    """The certificate entry with paging limits (``max_pages``, ``max_empty_pages``) set."""
    data = certificate_resource(page_size=page_size).model_dump(mode="json", by_alias=True, exclude_unset=True)
    data["pipeline"]["source"].update(source_settings)
    return Resource.model_validate(data)


@pytest.mark.parametrize("from_page", [1, 3], ids=["from-the-first-page", "after-real-pages"])
def test_endless_empty_pages_fail_after_max_empty_pages(server, tmp_path, from_page):
    server.faults.endless_empty_pages(from_page=from_page)
    source = HttpApiSource(_capped_resource(100, max_empty_pages=4), backoff_base=0.01)
    with pytest.raises(SourceError) as err:
        source.extract(FULL, (tmp_path / "x").as_uri(), 1000)
    message = str(err.value)
    last = from_page + 3
    assert f"page {last}" in message and "/api/v1/certificates" in message
    assert "4 empty pages in a row" in message and "max_empty_pages" in message
    assert source.requests_made == last           # stopped at once, not thousands of pages later
    assert server.faults.served == {"endless_empty_pages": 4}


def test_default_limit_on_empty_pages_is_three(server, tmp_path):
    server.faults.endless_empty_pages(from_page=1)
    source = HttpApiSource(certificate_resource(page_size=100), backoff_base=0.01)
    with pytest.raises(SourceError, match="page 3 .*3 empty pages in a row"):
        source.extract(FULL, (tmp_path / "x").as_uri(), 1000)
    assert source.requests_made == 3


def test_empty_pages_between_full_pages_are_followed(server, tmp_path):
    """Fewer empty pages in a row than the limit (an API filtering a page away) lose nothing."""
    server.faults.empty_pages(page_number=2, times=1).empty_pages(page_number=4, times=1)
    source = HttpApiSource(_capped_resource(100, max_empty_pages=2), backoff_base=0.01)
    result = source.extract(FULL, (tmp_path / "x").as_uri(), 1000)
    table = pa.concat_tables(read_part(p) for p in result.parts)
    assert server.faults.served == {"empty_pages": 2}
    assert _ids(table) == [r["cert_identifier"] for r in server.records] and result.rows == 1200


def test_more_pages_than_max_pages_fail_naming_the_setting(server, tmp_path):
    source = HttpApiSource(_capped_resource(5, max_pages=7), backoff_base=0.01)   # 1,200 records: 240 pages
    with pytest.raises(SourceError) as err:
        source.extract(FULL, (tmp_path / "x").as_uri(), 1000)
    message = str(err.value)
    assert "page 7" in message and "/api/v1/certificates" in message and "max_pages" in message
    assert "7" in message and "nothing was loaded" in message
    assert source.requests_made == 7


def test_exactly_max_pages_pages_load(server, tmp_path):
    source = HttpApiSource(_capped_resource(100, max_pages=12), backoff_base=0.01)   # 1,200 records: 12 pages
    result = source.extract(FULL, (tmp_path / "x").as_uri(), 1000)
    assert result.rows == 1200 and source.requests_made == 12
