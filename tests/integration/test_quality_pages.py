"""What a new user sees after ``make demo``: the trend page and ``quality scores`` ordered by data day
(a year of simulated history loaded after the real run), the per-load report's one dimension table,
readable samples (geometry, empty values) and the return workbook's source rows, the default period
of ``quality scores --provider``. Real warehouse, real pipeline, real simulator, a real browser."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import shapely

from baselib.geometry import shapes
from baselib_simulators import population as sim
from tests import browser
from tests.conftest import DAY2
from tests.integration.pipeline_helpers import fill_source, run

HIGH_RATES = {kind: 0.01 for kind in sim.DEFECTS}


def _cli(*args):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "baselib.cli", "quality", *args], capture_output=True, text=True,
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root / "plugins")}, timeout=180)


def _resource(code: str):
    from baselib.catalog import load_catalog

    return next(r for r in load_catalog() if r.code == code)


def test_trend_page_and_scores_order_runs_by_data_day_when_history_is_loaded_after_the_real_run(dbs, population):
    from baselib.quality import trend
    from baselib_simulators import history

    fill_source(dbs, rows=300, rates=HIGH_RATES)
    real = run(population, DAY2)                       # data day 2026-11-02 (local), loaded first
    conn = dbs.warehouse()
    try:                                               # then a year of history: data days 2025-11-02 … 2026-10-31
        history.simulate(conn, dt.date(2025, 11, 2), dt.date(2026, 11, 1), seed=7, catalog=[population],
                         now=dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc))
    finally:
        conn.close()
    loads = dbs.query("SELECT load_id, (coalesce(data_interval_start, logical_date, started_at) "
                      "AT TIME ZONE 'Asia/Shanghai')::date FROM ops.load_run WHERE resource_code = %s",
                      (population.code,))
    assert len(loads) > 1 + 300 and min(load_id for load_id, _ in loads) == real["load_id"]
    expected = sorted(loads, key=lambda r: (r[1], r[0]), reverse=True)
    assert expected[0] == (real["load_id"], dt.date(2026, 11, 2)) and expected[1][1] == dt.date(2026, 10, 31)

    conn = dbs.warehouse()
    try:
        page = trend.write(conn, population)
        conn.commit()
    finally:
        conn.close()
    dom = browser.dom(page)
    table = re.findall(r'<td class="num">(\d+)</td><td>(\d{4}-\d\d-\d\d)</td>', dom)
    assert [(int(i), dt.date.fromisoformat(d)) for i, d in table] == expected
    text = browser.visible_text(page)
    assert f"最近 60 个批次，按数据日由早到晚 / latest 60 runs by data day, oldest → newest (of {len(loads)};" in text
    chart_days = [expected[n][1] for n in range(59, -1, -1)]        # the latest 60, oldest to newest
    labelled = [f"{day:%Y-%m-%d}" for n, day in enumerate(chart_days) if (59 - n) % 5 == 0]
    assert len(labelled) == 12 and labelled[-1] == "2026-11-02" and labelled[0] == f"{chart_days[4]:%Y-%m-%d}"
    svgs = re.findall(r"(?s)<svg.*?</svg>", page.read_text(encoding="utf-8"))
    assert len(svgs) == 3
    for svg in svgs:
        assert re.findall(r"\d{4}-\d\d-\d\d", svg) == labelled

    done = _cli("scores", "--resource", population.code, "--runs", "3")
    assert done.returncode == 0, done.stderr
    lines = [line.split()[:2] for line in done.stdout.splitlines() if re.match(r"\d+ ", line)]
    assert lines == [[str(i), str(d)] for i, d in expected[:3]]


def test_the_report_shows_one_dimension_table_with_the_run_level_elements_and_readable_samples(dbs, population):
    fill_source(dbs, rows=400, rates=HIGH_RATES)
    summary = run(population, DAY2)
    page = Path(summary["report_path"])
    result = json.loads(page.with_name("validation_result.json").read_text(encoding="utf-8"))
    meta = result["meta"]
    html = browser.dom(page)
    text = browser.visible_text(page)
    assert "通过率 / Pass rate per quality dimension" not in text and html.count('<table class="dimensions">') == 1
    rows = re.findall(r"(?s)<table class=\"dimensions\">(.*?)</table>", html)[0].split("</tr>")[1:-1]
    assert len(rows) == 7                                                 # six dimensions and the overall
    for key, score in meta["scores"].items():
        value = "未评价 / not judged" if score["score"] is None else f"{score['score'] * 100:.2f}"
        run_level = score["elements"] - meta["dimensions"][key]["elements"] if key in meta["dimensions"] else 0
        judged = str(score["elements"]) + (f" （含运行级 {run_level} / incl. {run_level} run-level）" if run_level else "")
        expected = (f"{score['label']} {value} {score['grade'] or '—'} {score['checks']} {judged} {score['failed']}")
        assert expected in text, expected
    assert meta["scores"]["timely"]["elements"] - meta["dimensions"]["timely"]["elements"] == 1
    assert meta["scores"]["accessible"]["elements"] - meta["dimensions"]["accessible"]["elements"] == 1
    assert "timeliness: whether this run arrived within its update cycle" in text
    shown = 0
    for entry in result["results"]:
        for sample in entry["result"]["partial_unexpected_list"]:
            for k, v in sample["values"].items():
                if v is None:
                    assert f"{k}= （空）/ empty" in text  # the tag around the words reads as a space
                    shown += 1
    assert shown and "=None" not in text


def test_report_samples_show_geometry_as_wkt_and_empty_values_as_empty(population):
    from baselib.validation import report
    from baselib.validation.executor import Samples

    places = Samples(_resource("103002/000001"))                      # location: type G (WKB)
    point = shapes.to_wkb_hex(shapely.Point(115.8, 28.6))
    assert places._show("location", point) == "POINT (115.8 28.6)"
    assert places._show("location", bytes.fromhex(point[2:])) == "POINT (115.8 28.6)"
    assert places._show("location", None) is None and places._show("place_name", None) is None
    assert places._show("location", "not wkb") == "not wkb"
    divisions = Samples(_resource("103001/000001"))                   # boundary: type G (WKB)
    polygon = shapely.MultiPolygon([shapely.Point(115.8, 28.6).buffer(0.5, 50)])
    points = shapely.get_num_coordinates(polygon)
    assert divisions._show("boundary", shapes.to_wkb_hex(polygon)) == f"MULTIPOLYGON (…, {points} points)"
    assert Samples(population)._show("name", "阿卜杜热合曼买买提") == "阿********"   # personal: still masked

    entry = {"expectation_config": {"type": "expect_x", "kwargs": {"column": "location"}, "severity": "critical",
                                    "meta": {"reason": "r", "dimension": "accurate", "level": "row",
                                             "origin": "suite"}},
             "success": False,
             "result": {"element_count": 2, "unexpected_count": 2, "unexpected_percent": 100.0,
                        "partial_unexpected_list": [
                            {"key": "360102001001", "values": {"location": "POINT (115.8 28.6)", "place_name": None}},
                            {"key": "360102001002", "values": {"location": "", "place_name": "八一广场"}}]},
             "exception_info": {"raised_exception": False, "exception_message": None}}
    dims = {k: {"label": k, "checks": 0, "elements": 0, "failed": 0, "pass_rate": None}
            for k in ("normative", "complete", "accurate", "consistent", "timely", "accessible")}
    result = {"success": False, "results": [entry],
              "statistics": {"evaluated_expectations": 1, "successful_expectations": 0,
                             "unsuccessful_expectations": 1, "success_percent": 0.0},
              "meta": {"expectation_suite_name": "s", "run_id": {"run_name": "load-1", "airflow_run_id": "r"},
                       "data_asset_name": "a.b", "provider": {"name": "p", "code": "c"}, "resource_code": "x",
                       "resource_name": "n", "load_id": 1, "mode": "full",
                       "rows": {"extracted": 2, "checked": 2, "skipped_unchanged": 0, "quarantined": 2, "warned": 0},
                       "dimensions": dims, "cross_checks": {}, "blocking": [], "fallback_types": [],
                       "generated_at": "2026-11-01T16:18:30+00:00"}}
    html = report.render_html(result)
    flat = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "360102001001 · location=POINT (115.8 28.6) · place_name= （空）/ empty" in flat
    assert "360102001002 · location= （空）/ empty · place_name=八一广场" in flat
    assert "2026-11-02 00:18 (UTC+8)" in flat


def test_return_workbook_source_rows_show_geometry_as_geojson_and_empties_as_null():
    from baselib.quality import returns

    places = _resource("103002/000001")
    row = {"place_code": "360102001001", "place_name": None, "location": shapes.to_wkb_hex(shapely.Point(115.8, 28.6)),
           "location_geojson": None, "longitude": 115.8, "latitude": 28.6}
    shown = json.loads(returns.source_row_text(json.dumps(row), places))
    assert shown == {**row, "location": {"type": "Point", "coordinates": [115.8, 28.6]}}
    divisions = _resource("103001/000001")
    square = shapely.MultiPolygon([shapely.box(115.1234567891, 28, 116, 29)])
    shown = json.loads(returns.source_row_text({"boundary": shapes.to_wkb_hex(square), "name": None}, divisions))
    assert shown["name"] is None and shown["boundary"]["type"] == "MultiPolygon"
    assert shown["boundary"]["coordinates"][0][0][0] == [116.0, 28.0]
    assert sorted({x for ring in shown["boundary"]["coordinates"][0] for x, _ in ring}) == [115.1234568, 116.0]
    # a value that is not WKB, and text that is not JSON, stay as delivered
    assert json.loads(returns.source_row_text('{"boundary": "abc", "n": NaN}', divisions)) == {"boundary": "abc",
                                                                                               "n": None}
    assert returns.source_row_text("not json", divisions) == "not json"


def test_quality_scores_for_a_provider_default_to_the_latest_ended_period(dbs, population):
    from baselib.evaluation import periods

    fill_source(dbs, rows=200, rates=HIGH_RATES)
    run(population, DAY2)
    for kind in ("month", "quarter", "year"):
        ended = periods.last_complete(kind)
        done = _cli("scores", "--provider", population.provider.code, "--period-kind", kind)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0] == f"提供方/provider {population.provider.code} · {kind} {ended.label}"
        explicit = _cli("scores", "--provider", population.provider.code, "--period-kind", kind, "--period",
                        ended.label)
        assert explicit.stdout == done.stdout
