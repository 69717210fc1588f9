"""The quality trend page of a resource (质量趋势): every run, newest data day first, on one offline page.

``REPORTS_DIR/<dag_id>/index.html`` (next to the per-load reports ``load-<id>/index.html``): for each
run its data day, run type, status, rows extracted and quarantined, the six GB/T 36344-2018
dimension scores, the overall score and grade, whether it was on time, and a link to the load's
report; above the table, inline-SVG line charts (:func:`baselib.charts.line_svg`) of the overall
score, each dimension's score and the quarantine share over the latest :data:`MAX_CHART_RUNS` runs
(oldest to newest, x-axis labelled by data day on at most :data:`MAX_CHART_TICKS` ticks).

The data day of a run is the local date (Asia/Shanghai) of its data interval start, else of its
logical date, else of the moment it started; runs are ordered by data day, then load id, so a year
of simulated or backfilled history loaded after a real run sorts by the days it covers. The page has
no script and references nothing remote. Rendered from ``templates/trend.html.j2``.

Written at the end of ``validate`` when a run is blocked, at the end of ``record``, after a failed
extract, and by ``python -m baselib.cli quality trend [--resource X]`` (:func:`command_trend`).
"""
from __future__ import annotations

import datetime as dt
import math
import os
import sys
from pathlib import Path

from baselib import storage
from baselib.validation.plan import DIMENSIONS
from baselib.warehouse import sqlfiles

TEMPLATE = "trend.html.j2"
PAGE = "index.html"
MAX_CHART_RUNS = 60   # the charts show the latest runs (by data day) only; the table lists every run
MAX_CHART_TICKS = 12  # x-axis labels per chart (the others are unlabelled ticks)


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )


def _float(value) -> float | None:
    return None if value is None else float(value)


def runs(conn, resource_code: str) -> list[dict]:
    """Every run of the resource, newest data day first, then newest load
    (include/sql/queries/quality_trend_runs.sql), each
    ``{"load_id", "run_id", "status", "mode", "data_day" (date), "started_at", "rows_extracted",
    "rows_quarantined", "quarantine_share" (0..1 or None), "report_path", "run_type", "within_update_cycle",
    "timeliness_lag_seconds", "scores": {dimension | "overall": {"score" (float or None), "grade"}}}``."""
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/quality_trend_runs"), {"resource_code": resource_code})
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    for row in rows:
        row["scores"] = {k: {"score": _float(v.get("score")), "grade": v.get("grade")}
                         for k, v in (row["scores"] or {}).items()}
        extracted = row["rows_extracted"]
        row["quarantine_share"] = (row["rows_quarantined"] or 0) / extracted if extracted else None
    return rows


def local_minute(moment: dt.datetime) -> str:
    """An instant as local time (Asia/Shanghai) to the minute: ``YYYY-MM-DD HH:MM``."""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def chart_labels(days: list, ticks: int = MAX_CHART_TICKS) -> list[str]:
    """The x-axis labels of the charts for ``days`` (data days, oldest to newest): ``YYYY-MM-DD``
    on at most ``ticks`` evenly spaced points, always the newest; ``""`` (an unlabelled tick) on
    the others, so 60 runs stay readable."""
    step = max(1, math.ceil(len(days) / ticks))
    last = len(days) - 1
    return [f"{day:%Y-%m-%d}" if (last - n) % step == 0 else "" for n, day in enumerate(days)]


def render(resource, rows: list[dict], directory: Path) -> str:
    """The page's HTML for ``rows`` (:func:`runs`, newest data day first); links are relative to
    ``directory``. The charts take the first :data:`MAX_CHART_RUNS` rows, oldest to newest."""
    from baselib import charts

    for row in rows:
        report = Path(row["report_path"]) if row["report_path"] else None
        row["report_href"] = (os.path.relpath(report, directory) if report is not None and report.is_file()
                              else None)
    chronological = list(reversed(rows[:MAX_CHART_RUNS]))
    labels = chart_labels([r["data_day"] for r in chronological])
    svgs = []
    if chronological:
        def series(key):
            return [r["scores"].get(key, {}).get("score") for r in chronological]

        svgs.append(charts.line_svg(labels, {"综合 overall": series("overall")}, title="综合评分 / overall score",
                                    y_label="评分 score", y_range=(0, 1.05), percent=True))
        svgs.append(charts.line_svg(labels, {f"{zh} {en}": series(key) for key, (zh, en) in DIMENSIONS.items()},
                                    title="各维度评分 / score per dimension", y_label="评分 score",
                                    y_range=(0, 1.05), percent=True))
        svgs.append(charts.line_svg(labels, {"隔离占比 quarantined": [r["quarantine_share"] for r in chronological]},
                                    title="隔离行占比 / share of rows quarantined", y_label="占比 share",
                                    percent=True))
    return _environment().get_template(TEMPLATE).render(
        resource=resource, rows=rows, charts=svgs, dimensions=DIMENSIONS, chart_runs=len(chronological),
        max_chart_runs=MAX_CHART_RUNS,
        generated_at=local_minute(dt.datetime.now(dt.timezone.utc)))


def write(conn, resource, reports_dir: Path | None = None) -> Path:
    """Write (atomically replace) ``<reports_dir>/<dag_id>/index.html`` for ``resource`` (a catalog
    :class:`~baselib.catalog.model.Resource`) from the warehouse (``conn``, inside its transaction;
    single-flight per resource by an advisory lock held until it commits). ``reports_dir``
    defaults to :data:`baselib.settings.REPORTS_DIR`. Returns the page's path."""
    from baselib import settings

    directory = Path(reports_dir or settings.REPORTS_DIR) / resource.dag_id
    directory.mkdir(parents=True, exist_ok=True)
    with conn.cursor() as cur:  # one writer per resource until commit: the last page written sees every run
        cur.execute(sqlfiles.text("queries/quality_trend_lock"), {"resource_code": resource.code})
    html = render(resource, runs(conn, resource.code), directory)
    page = directory / PAGE
    storage.replace_local(page, html)
    return page


def command_trend(args) -> None:
    """``quality trend [--resource X]``: write the trend page of one resource (catalog code or DAG
    id), or of every catalog resource that has runs; prints each page's path. Unknown resource:
    ``error: …`` and exit 1."""
    from baselib.catalog.loader import find, load_catalog
    from baselib.errors import CatalogError
    from baselib.security import redaction
    from baselib.warehouse import connections

    try:
        targets = [find(args.resource)] if args.resource else load_catalog()
    except CatalogError as exc:
        sys.exit(f"error: {redaction.redact(str(exc))}")
    with connections.transaction() as conn:
        with conn.cursor() as cur:
            cur.execute(sqlfiles.text("queries/quality_trend_resources"), {"resource_codes": [r.code for r in targets]})
            with_runs = {r[0] for r in cur.fetchall()}
        if args.resource and targets[0].code not in with_runs:
            sys.exit(f"error: resource {targets[0].code} has no runs yet: nothing to show")
        for resource in targets:
            if resource.code in with_runs:
                print(write(conn, resource))
