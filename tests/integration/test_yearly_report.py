"""The yearly sharing report (baselib.evaluation.yearly_report): a simulated year in a real warehouse,
reports written as HTML and PDF, the PDF read back with pypdfium2 (text and pages as images), the
HTML opened offline in a real headless browser, and the ``evaluation report`` command.

One simulated year is shared by the module's tests (its own warehouse database, dropped afterwards).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import browser

YEAR = 2025
SEED = 20250
SECTIONS = ["一、目录编制情况", "二、接入共享平台的系统", "三、数据共享情况", "四、评价结果"]
SECTIONS_EN = ["Catalog compilation", "Systems connected", "Data shared and the applications it supported",
               "Evaluation"]
CHART_TITLES = {"timeliness": "Timeliness by month", "dimensions": "Quality dimension scores",
                "volumes": "Volumes shared and used by month", "ranking": "Ranking by year score"}
ROOT = Path(__file__).resolve().parents[2]


def _consumers():
    from baselib.sharing import consumers

    return consumers.load()


@pytest.fixture(scope="module")
def year(pg_server, tmp_path_factory):
    """A warehouse with the consumer systems of include/sharing/consumers.yaml registered, one
    simulated year, and the reports of three departments and the platform written. Yields a dict:
    ``conn``, ``uri``, ``dir`` (the year's folder), ``paths`` and the chosen department codes."""
    from baselib.warehouse import connections, provision, schema
    from baselib_simulators import history

    name = f"baselib_test_wh_yearly_{os.getpid()}"
    provision.drop_database(pg_server, name)
    uri = provision.ensure_database(pg_server, name)
    patch = pytest.MonkeyPatch()
    patch.setenv("AIRFLOW_CONN_WAREHOUSE", uri)
    patch.delenv("WAREHOUSE_URL", raising=False)
    conn = connections.connect("warehouse")
    try:
        schema.ensure(conn, [])
        with conn.cursor() as cur:  # the registry rows only (roles are not needed to report)
            for c in _consumers():
                cur.execute("INSERT INTO sharing.consumer (consumer_code, consumer_name, department_name, "
                            "department_code, role_name, share_schema) VALUES (%s, %s, %s, %s, %s, %s)",
                            (c.code, c.name, c.department.name, c.department.code, c.role_name, c.share_schema))
        conn.commit()
        history.simulate(conn, dt.date(YEAR, 1, 1), dt.date(YEAR + 1, 1, 1), seed=SEED)
        with conn.cursor() as cur:
            # a provider that also runs consumer systems, with runs and applications
            cur.execute("SELECT provider_code FROM evaluation.sync_metrics GROUP BY provider_code "
                        "HAVING provider_code IN (SELECT department_code FROM sharing.consumer) "
                        "ORDER BY count(*) DESC, provider_code LIMIT 1")
            busy = cur.fetchone()[0]
            # a department without any run (a consumer-only department)
            cur.execute("SELECT department_code FROM sharing.consumer WHERE department_code NOT IN "
                        "(SELECT provider_code FROM evaluation.sync_metrics) ORDER BY department_code LIMIT 1")
            idle = cur.fetchone()[0]
        from baselib.evaluation import yearly_report

        out = tmp_path_factory.mktemp("yearly")
        paths = yearly_report.write(conn, YEAR, out, [busy, idle, "platform"])
        yield {"conn": conn, "uri": uri, "out": out, "dir": out / str(YEAR), "paths": paths, "busy": busy,
               "idle": idle}
    finally:
        conn.close()
        patch.undo()
        provision.drop_database(pg_server, name)


def _scalar(conn, query: str, params=None):
    with conn.cursor() as cur:
        cur.execute(query, params)
        value = cur.fetchone()[0]
    conn.rollback()
    return value


def _pdf(path: Path):
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(str(path))


def _page_texts(path: Path) -> list[str]:
    return [page.get_textpage().get_text_range() for page in _pdf(path)]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _coloured(page, scale: float = 2) -> int:
    """Pixels of strong colour (chart bars, lines, markers): the page's own styles use greys only."""
    image = page.render(scale=scale).to_pil().convert("RGB")
    return sum(1 for r, g, b in image.getdata() if max(r, g, b) - min(r, g, b) > 60)


def test_writes_every_file_and_an_index(year):
    folder = year["dir"]
    expected = [folder / f"{stem}.{ext}" for stem in (year["busy"], year["idle"], "platform") for ext in ("html", "pdf")]
    assert year["paths"] == expected + [folder / "index.html"]
    index = (folder / "index.html").read_text(encoding="utf-8")
    for stem in (year["busy"], year["idle"], "platform"):
        assert f'href="{stem}.html"' in index and f'href="{stem}.pdf"' in index
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_pdf_text_holds_the_department_sections_and_database_numbers(year):
    conn, code = year["conn"], year["busy"]
    texts = _page_texts(year["dir"] / f"{code}.pdf")
    assert len(texts) >= 6
    text = _flat(" ".join(texts))
    name = _scalar(conn, "SELECT department_name FROM evaluation.indicator WHERE department_code = %s "
                         "AND period_kind = 'year' AND period = %s", (code, str(YEAR)))
    assert name in text
    for heading in SECTIONS + SECTIONS_EN:  # CJK text extracted: the glyphs are real text in the PDF
        assert heading in text
    catalogued = _scalar(conn, "SELECT count(*) FROM catalog.resource WHERE provider_code = %s", (code,))
    assert f"编目资源 resources catalogued: {catalogued}" in text
    items = _scalar(conn, "SELECT count(*) FROM catalog.resource_item i JOIN catalog.resource r USING (resource_code) "
                          "WHERE r.provider_code = %s", (code,))
    assert f"信息项 items: {items}（" in text
    published = _scalar(conn, "SELECT count(*) FROM catalog.resource WHERE provider_code = %s AND publish_date < %s",
                        (code, dt.date(YEAR + 1, 1, 1)))
    assert f"{YEAR} 年底前发布 published by the end of {YEAR}: {published}" in text
    bounds = (dt.datetime(YEAR, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))),
              dt.datetime(YEAR + 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    received = _scalar(conn, "SELECT count(*) FROM sharing.application WHERE provider_code = %s "
                             "AND submitted_at >= %s AND submitted_at < %s", (code, *bounds))
    approved = _scalar(conn, "SELECT count(*) FROM sharing.application WHERE provider_code = %s "
                             "AND submitted_at >= %s AND submitted_at < %s AND status <> 'refused' "
                             "AND decided_at IS NOT NULL", (code, *bounds))
    assert received > 0
    assert f"收到 received: {received} 批准 approved: {approved}" in text
    loaded = _scalar(conn, "SELECT sum(rows_inserted + rows_updated) FROM evaluation.sync_metrics "
                           "WHERE provider_code = %s AND logical_date >= %s AND logical_date < %s", (code, *bounds))
    assert f"入库行数 rows loaded: {loaded:,}" in text
    score = _scalar(conn, "SELECT score FROM evaluation.indicator WHERE department_code = %s "
                          "AND period_kind = 'year' AND period = %s", (code, str(YEAR)))
    assert score is not None
    assert f"年度得分 year score: {float(score):.1f}" in text
    # the page header names the department on every page; page numbers in the footer
    for n, page_text in enumerate(texts, start=1):
        assert code in _flat(page_text) and f"第 {n} 页 / 共 {len(texts)} 页" in _flat(page_text)


def test_pdf_pages_are_drawn_and_charts_are_coloured(year):
    path = year["dir"] / f"{year['busy']}.pdf"
    pdf = _pdf(path)
    texts = [_flat(t) for t in _page_texts(path)]
    for page in pdf:  # nothing blank
        image = page.render(scale=1).to_pil().convert("L")
        assert sum(1 for v in image.getdata() if v < 200) > 2000
    catalog_page = next(n for n, t in enumerate(texts) if SECTIONS[0] in t)
    assert _coloured(pdf[catalog_page]) < 200  # a page without a chart has (almost) no colour
    for chart, title in CHART_TITLES.items():
        number = next((n for n, t in enumerate(texts) if title in t), None)
        assert number is not None, f"the {chart} chart's title is not in the PDF"
        assert _coloured(pdf[number]) > 3000, f"the {chart} chart on page {number + 1} is not drawn"


def test_html_offline_in_a_browser_shows_the_sections_and_four_charts(year):
    page = year["dir"] / f"{year['busy']}.html"
    source = page.read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in source
    assert not re.search(r"""(?i)(<link\b|<script\b|<img\b|url\(\s*['"]?https?:|src=["']https?:)""", source)
    dom = browser.dom(page)
    text = browser.visible_text(page)
    for heading in SECTIONS + SECTIONS_EN:
        assert heading in text
    for chart in CHART_TITLES:
        block = re.search(rf'<div class="chart" id="chart-{chart}">(.*?)</div>', dom, re.S)
        assert block is not None and block.group(1).count("<svg") == 1, chart
    assert dom.count("<svg") == 4
    name = _scalar(year["conn"], "SELECT department_name FROM evaluation.indicator WHERE department_code = %s "
                                 "AND period_kind = 'year' AND period = %s", (year["busy"], str(YEAR)))
    ranking = re.search(r'id="chart-ranking">(.*?)</div>', dom, re.S).group(1)
    assert f"▶ {name}" in ranking  # this department's bar is marked


def test_platform_ranks_departments_by_score(year):
    conn = year["conn"]
    page = year["dir"] / "platform.html"
    dom = browser.dom(page)
    table = re.search(r'<table id="departments">(.*?)</table>', dom, re.S).group(1)
    listed = re.findall(r'<tr data-code="([^"]+)">', table)
    with conn.cursor() as cur:
        cur.execute("SELECT department_code, score FROM evaluation.indicator WHERE period_kind = 'year' "
                    "AND period = %s", (str(YEAR),))
        scores = dict(cur.fetchall())
    conn.rollback()
    scored = sorted((c for c, s in scores.items() if s is not None), key=lambda c: (-scores[c], c))
    assert len(scored) >= 2
    assert listed[:len(scored)] == scored
    assert set(listed) == set(scores)
    # the PDF of the platform: every department's name, in the same order in the ranking table
    text = _flat(" ".join(_page_texts(year["dir"] / "platform.pdf")))
    assert "全平台 whole platform" in text and "Every department" in text
    total = _scalar(conn, "SELECT count(*) FROM catalog.resource")
    assert f"编目资源 resources catalogued: {total}" in text
    assert browser.dom(page).count("<svg") == 4


def test_department_without_runs_renders_no_data(year):
    code = year["idle"]
    text = _flat(" ".join(_page_texts(year["dir"] / f"{code}.pdf")))
    assert "无数据 no data" in text
    for heading in SECTIONS:
        assert heading in text
    assert "本部门没有编目的信息资源" in text and "no load and no measured use" in text
    dom = browser.dom(year["dir"] / f"{code}.html")
    assert re.search(r'id="chart-timeliness">\s*<p class="nodata">', dom)
    assert re.search(r'id="chart-volumes">\s*<p class="nodata">', dom)


def test_a_year_without_any_data_renders_no_data(year, tmp_path):
    from baselib.evaluation import yearly_report

    empty = YEAR - 2  # (the simulated year's first runs carry data days of YEAR - 1)
    paths = yearly_report.write(year["conn"], empty, tmp_path, ["platform", year["busy"]])
    assert [p.name for p in paths] == ["platform.html", "platform.pdf", f"{year['busy']}.html",
                                       f"{year['busy']}.pdf", "index.html"]
    for stem in ("platform", year["busy"]):
        text = _flat(" ".join(_page_texts(tmp_path / str(empty) / f"{stem}.pdf")))
        assert f"no load and no measured use in {empty}" in text
        assert "更新及时率 timeliness by month: 无数据 no data" in text
        assert "数据质量维度得分 quality dimension scores: 无数据 no data" in text
        for heading in SECTIONS:
            assert heading in text


def _cli(year, *args):
    env = {**os.environ, "AIRFLOW_CONN_WAREHOUSE": year["uri"], "PYTHONPATH": str(ROOT / "plugins")}
    env.pop("WAREHOUSE_URL", None)
    return subprocess.run([sys.executable, "-m", "baselib.cli", "evaluation", "report", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_refuses_an_unknown_department_and_writes_nothing(year, tmp_path):
    result = _cli(year, "--year", str(YEAR), "--department", "nosuchdepartment", "--output", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "nosuchdepartment" in result.stderr
    assert list(tmp_path.iterdir()) == []
    result = _cli(year, "--year", "1999", "--output", str(tmp_path))
    assert result.returncode == 1 and result.stderr.startswith("error: --year")
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_a_department_report_identical_to_the_library_s(year, tmp_path):
    code = year["busy"]
    result = _cli(year, "--year", str(YEAR), "--department", code, "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / str(YEAR)
    assert result.stdout.split() == [str(folder / f"{code}.html"), str(folder / f"{code}.pdf"),
                                     str(folder / "index.html")]
    # same data, same page: the report is reproducible (and rerunning replaces it)
    assert (folder / f"{code}.html").read_bytes() == (year["dir"] / f"{code}.html").read_bytes()
    assert len(_pdf(folder / f"{code}.pdf")) == len(_pdf(year["dir"] / f"{code}.pdf"))


def test_flags_read_as_sentences_in_chinese_and_english_with_local_minutes():
    """Zombie and never-used flags as a reader understands them: no raw keys, no UTC ISO instants."""
    from baselib.evaluation import yearly_report

    row = {"indicators": {}, "score": None, "grade": None, "computed_at": None, "flags": {
        "zombie_resources": [
            {"resource_code": "R1", "resource_name": "人口信息", "update_cycle": "每日", "cycles_missed": 11,
             "last_delivery": "2025-12-19T16:18:00+00:00"},
            {"resource_code": "R2", "resource_name": "地名信息", "update_cycle": "每月", "cycles_missed": 3,
             "last_delivery": None}],
        "unused_resources": [{"resource_code": "R3", "resource_name": "法人信息", "sharing_type": "有条件共享"}]}}
    flags = {f["name"]: f["entries"] for f in yearly_report._indicator_view(row)["flags"]}
    assert flags == {
        "zombie_resources": [
            "R1 人口信息：每日更新，已 11 个周期未交付（最后交付 2025-12-20 00:18） / daily updates, 11 cycles without "
            "delivery (last delivery 2025-12-20 00:18)",
            "R2 地名信息：每月更新，已 3 个周期未交付（从未交付） / monthly updates, 3 cycles without delivery "
            "(never delivered)"],
        "unused_resources": ["R3 法人信息：有条件共享，期内无人使用 / conditional sharing, not used in the period"]}


def test_the_written_reports_show_no_raw_flag_keys_nor_utc_instants(year):
    for path in year["paths"]:
        if path.suffix == ".html":
            html = path.read_text(encoding="utf-8")
            for raw in ("cycles_missed", "last_delivery", "update_cycle:", "sharing_type:", "+00:00"):
                assert raw not in html, (path.name, raw)
