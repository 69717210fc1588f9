"""A real load's quality report and its resource's trend page, opened in a real headless browser with
the network off: what a quality officer (质量管理员) sees."""
from __future__ import annotations

import json
import re
from pathlib import Path

from baselib_simulators import population as sim
from tests import browser
from tests.conftest import DAY1, DAY2
from tests.integration.pipeline_helpers import fill_source, run

HIGH_RATES = {kind: 0.01 for kind in sim.DEFECTS}
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(\s*["']?(?:https?:)?//""", re.I)


def _distinct_colours(png: Path) -> int:
    import matplotlib.image

    pixels = matplotlib.image.imread(str(png))
    return len({tuple(p) for p in (pixels[::7, ::7, :3] * 255).round().astype(int).reshape(-1, 3).tolist()})


def _pct(score: float | None) -> str:
    return "未评价 / not judged" if score is None else f"{score * 100:.2f}"


def test_the_report_and_trend_pages_render_offline_with_scores_and_no_personal_identifier(dbs, population,
                                                                                         tmp_path):
    fill_source(dbs, rows=1200, rates=HIGH_RATES)
    first = run(population, DAY1)
    summary = run(population, DAY2)
    rerun = run(population, DAY1)  # a rerun of the first day: three runs on the trend page
    page = Path(first["report_path"])
    result = json.loads(page.with_name("validation_result.json").read_text(encoding="utf-8"))
    meta = result["meta"]
    injected = [r[0] for r in dbs.query("SELECT id_number FROM simulator.injected_defect", db="source")]
    assert injected

    text = browser.visible_text(page)
    assert population.provider.name in text and population.provider.code in text
    for key, score in meta["scores"].items():
        label = score["label"]
        assert label.split(" / ")[0] in text
        assert f"{label} {_pct(score['score'])}" in text, (key, label)
        if score["grade"]:
            assert f"{_pct(score['score'])} {score['grade']}" in text
    failed = [e for e in result["results"] if e["result"]["unexpected_count"]]
    assert failed
    worst = max(failed, key=lambda e: e["result"]["unexpected_count"])
    assert f"{worst['result']['unexpected_count']} / {worst['result']['element_count']}" in text
    assert worst["expectation_config"]["meta"]["reason"] in text
    assert not [k for k in injected if k in text]
    html = page.read_text(encoding="utf-8")
    assert not REMOTE.search(html) and "<script" not in html.lower()
    assert '<a href="../index.html">' in html
    shot = browser.screenshot(page, tmp_path / "report.png")
    assert _distinct_colours(shot) > 20

    trend = page.parent.parent / "index.html"
    assert trend.is_file()
    trend_text = browser.visible_text(trend)
    assert population.provider.name in trend_text and population.name in trend_text
    for zh, _en in (("规范性", ""), ("完整性", ""), ("准确性", ""), ("一致性", ""), ("时效性", ""), ("可访问性", "")):
        assert zh in trend_text
    runs = dbs.query("SELECT load_id FROM ops.load_run ORDER BY load_id DESC")
    assert [r[0] for r in runs] == [rerun["load_id"], summary["load_id"], first["load_id"]]
    for (load_id,) in runs:
        overall = dbs.scalar("SELECT score FROM evaluation.quality_score WHERE load_id = %s AND dimension = 'overall'",
                             (load_id,))
        assert f"{float(overall) * 100:.2f}" in trend_text
    trend_html = trend.read_text(encoding="utf-8")
    assert trend_html.count("<svg") == 3 and not REMOTE.search(trend_html) and "<script" not in trend_html.lower()
    for load_id in (first["load_id"], summary["load_id"], rerun["load_id"]):
        assert f'href="load-{load_id}/index.html"' in trend_html
    assert not [k for k in injected if k in trend_html]
    shot = browser.screenshot(trend, tmp_path / "trend.png")
    assert _distinct_colours(shot) > 20
