"""The yearly sharing report (年度共享工作报告) per department and for the whole platform, as HTML and PDF.

The seed plans require each department's report on the previous year's sharing by the end of
February. A report has four sections, in Chinese with English headings:

1. 目录编制情况 catalog compilation: the department's catalogued resources as the catalog stands
   now (the catalog files, :func:`baselib.catalog.load_catalog`; the catalog keeps no history):
   counts by class (基础 base / 主题 theme / 部门 department), items, sharing types, update cycles,
   in the published catalog (``catalog.resource``) and with a publish date (发布日期) before the
   year's end;
2. 接入共享平台的系统 systems connected: its consumer systems (``sharing.consumer``) and its
   provider channels (前置库 database, 文件 file drop, 接口 API, 平台模型 theme model; each
   resource's ``pipeline.source.kind``);
3. 数据共享情况 data shared and the applications it supported: loads, rows delivered and loaded
   per month (``evaluation.sync_metrics``), applications to its resources (``sharing.application``:
   received, approved, refused, within limit), consumers served, measured use of its resources
   (``evaluation.sharing_usage``), applications its own systems made;
4. 评价结果 evaluation: the year's indicators, score, grade and flags (``evaluation.indicator``,
   period kind ``year``; the departments with no stored year row are computed with
   :func:`baselib.evaluation.indicators.compute` first), the six GB/T 36344-2018 dimension scores
   (:func:`baselib.quality.scoring.provider_scores`) and the ranking of every department.

Charts (inline SVG, :mod:`baselib.charts`): timeliness by month (% of judged loads within their
update cycle), the dimension scores, volumes by month (rows loaded, rows read, queries) and the
ranking by year score (this department marked). Data that does not exist renders "无数据 no data".

Files: ``<out_dir>/<year>/<department_code>.html`` and ``.pdf`` per department, ``platform.html``
and ``platform.pdf``, and ``index.html`` linking every report in the folder (default out_dir:
``REPORTS_DIR/yearly``). Each file is written to a temporary name and renamed into place, so a
reader never sees half a report; rerunning replaces the files with the same content. The HTML is
one file that needs no network; the PDF (WeasyPrint, A4) needs the CJK font Noto Sans CJK SC
(Debian: fonts-noto-cjk) to show Chinese.
"""
from __future__ import annotations

import datetime as dt
import logging
import sys
from collections import Counter
from pathlib import Path

from baselib import storage
from baselib.evaluation import periods
from baselib.warehouse import sqlfiles

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
PLATFORM = "platform"
NO_DATA = "无数据 no data"

CLASS_LABELS = {"1": "基础 base", "2": "主题 theme", "3": "部门 department"}
CHANNEL_LABELS = {"postgres": "前置库 database", "file_drop": "文件 file drop", "http_api": "接口 API",
                  "sql_model": "平台模型 theme model"}
DIMENSION_LABELS = {"normative": "规范性 normative", "complete": "完整性 complete", "accurate": "准确性 accurate",
                    "consistent": "一致性 consistent", "timely": "时效性 timely", "accessible": "可访问性 accessible"}
INDICATOR_LABELS = {
    "catalog_completeness": "目录完整度 catalog completeness", "timeliness": "更新及时率 timeliness",
    "quality": "数据质量 quality", "quarantine_rate": "隔离率 quarantine rate",
    "objections_on_time": "异议按时处理 objections on time",
    "application_response": "申请按时答复 applications answered in time",
    "applications_made": "提出共享申请 applications made", "measured_use": "实际使用 measured use",
}
FLAG_LABELS = {"zombie_resources": "僵尸资源 zombie resources (no new data for too many update cycles)",
               "unused_resources": "未被使用的资源 never-used resources"}


# -- data -------------------------------------------------------------------------------------------


def _rows(conn, name: str, params: dict | None = None) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text(f"queries/{name}"), params or {})
        columns = [c[0] for c in cur.description]
        return [dict(zip(columns, row)) for row in cur.fetchall()]


def _period(year: int) -> periods.Period:
    return periods.parse("year", str(year))


def departments(conn, year: int) -> dict[str, str]:
    """Every department the platform knows, ``{department_code: name}`` sorted by code: the catalog's
    providers, the departments of consumer systems (include/sharing/consumers.yaml and
    ``sharing.consumer``), and the departments with stored year indicators (as
    :func:`baselib.evaluation.indicators.list_departments`; a stored indicator row's name wins, then
    the catalog's, then the consumer record's)."""
    from baselib.catalog import load_catalog

    from baselib.errors import SharingError
    from baselib.sharing import consumers as consumers_file

    names: dict[str, str] = {}
    try:
        for consumer in consumers_file.load():
            names[consumer.department.code] = consumer.department.name
    except SharingError:  # a broken consumers file: the registered consumers still count
        pass
    for row in _rows(conn, "evaluation_year_consumers"):
        names[row["department_code"]] = row["department_name"]
    for resource in load_catalog():
        names[resource.provider.code] = resource.provider.name
    for row in _rows(conn, "evaluation_year_indicators", {"period": str(year)}):
        names[row["department_code"]] = row["department_name"]
    return dict(sorted(names.items()))


def _indicator_rows(conn, year: int) -> list[dict]:
    """The year's stored indicator rows of every department the platform knows
    (:func:`baselib.evaluation.indicators.list_departments`): the departments with no stored row (none
    computed yet, or the year computed for some departments only) are computed (and stored) first, so
    the ranking is never limited to the departments someone happened to compute."""
    from baselib.evaluation import indicators

    rows = _rows(conn, "evaluation_year_indicators", {"period": str(year)})
    stored = {r["department_code"] for r in rows}
    missing = [code for code in indicators.list_departments(conn) if code not in stored]
    if not missing:
        return rows
    indicators.compute(conn, _period(year), departments=missing)
    conn.commit()
    return _rows(conn, "evaluation_year_indicators", {"period": str(year)})


def _ratio(part, whole) -> float | None:
    return (part / whole) if whole else None


def _sync(conn, year: int, provider_code: str | None, key: str) -> dict[str, dict]:
    """Loads of the year summed per ``key`` ("month" or "provider_code") exactly as the indicators count
    them (:func:`baselib.evaluation.indicators.counted_loads`, one query and one rule): ``{key: {"loads",
    "rows_delivered" (extracted), "rows_loaded" (inserted + updated), "judged", "within_cycle"}}``."""
    from baselib.evaluation import indicators

    start, end = _period(year).bounds
    with conn.cursor() as cur:
        loads = indicators.counted_loads(cur, start, end, provider_code)
    groups: dict[str, list[dict]] = {}
    for load in loads:
        groups.setdefault(load[key], []).append(load)
    out = {}
    for value, group in groups.items():
        summary = indicators.summarize_loads(group)
        out[value] = {"loads": summary["loads"], "rows_delivered": summary["rows_extracted"],
                      "rows_loaded": summary["rows_loaded"], "judged": summary["judged"],
                      "within_cycle": summary["on_time"]}
    return out


def _months(conn, year: int, provider_code: str | None) -> list[dict]:
    period = _period(year)
    sync = _sync(conn, year, provider_code, "month")
    use = {r["month"]: r for r in _rows(conn, "evaluation_year_usage_monthly",
                                        {"start_date": period.start, "end_date": period.end,
                                         "provider_code": provider_code})}
    out = []
    for month in period.months():
        s, u = sync.get(month.label, {}), use.get(month.label, {})
        out.append({"month": month.label, "loads": s.get("loads", 0), "rows_delivered": s.get("rows_delivered", 0),
                    "rows_loaded": s.get("rows_loaded", 0), "judged": s.get("judged", 0),
                    "within_cycle": s.get("within_cycle", 0),
                    "timeliness": _ratio(s.get("within_cycle", 0), s.get("judged", 0)),
                    "queries": u.get("queries", 0), "rows_read": u.get("rows_read", 0)})
    return out


def _totals(months: list[dict]) -> dict:
    keys = ("loads", "rows_delivered", "rows_loaded", "judged", "within_cycle", "queries", "rows_read")
    out = {k: sum(m[k] for m in months) for k in keys}
    out["timeliness"] = _ratio(out["within_cycle"], out["judged"])
    return out


def _catalog(conn, resources, year_end: dt.date) -> dict:
    published = {r["resource_code"]: r for r in _rows(conn, "evaluation_year_published")}
    listed = []
    for r in sorted(resources, key=lambda r: r.code):
        listed.append({
            "code": r.code, "name": r.name, "class": CLASS_LABELS[r.classification.class_code],
            "provider": r.provider.name, "item_count": len(r.items), "personal_items": sum(i.personal for i in r.items),
            "sharing_type": r.sharing.type.value, "update_cycle": r.update_cycle.value,
            "format": r.format.value, "channel": CHANNEL_LABELS.get(r.pipeline.source.kind, r.pipeline.source.kind),
            "publish_date": r.publish_date.isoformat(), "published": r.code in published,
            "open": r.open.open_to_public})
    return {
        "resources": listed, "count": len(listed),
        "by_class": {label: sum(1 for r in listed if r["class"] == label) for label in CLASS_LABELS.values()},
        "item_count": sum(r["item_count"] for r in listed), "personal_items": sum(r["personal_items"] for r in listed),
        "sharing_types": dict(sorted(Counter(r["sharing_type"] for r in listed).items())),
        "update_cycles": dict(sorted(Counter(r["update_cycle"] for r in listed).items())),
        "published": sum(r["published"] for r in listed),
        "published_by_year_end": sum(1 for r in resources if r.publish_date < year_end),
        "channels": dict(sorted(Counter(r["channel"] for r in listed).items())),
    }


def _dimension_scores(conn, year: int, provider_codes: list[str]) -> dict:
    """Per dimension ``{"score", "grade", "elements", "failed"}`` summed over ``provider_codes``."""
    from baselib.quality import scoring

    config = scoring.load_config()
    sums = {d: [0, 0] for d in DIMENSION_LABELS}
    for code in provider_codes:
        for dimension, value in scoring.provider_scores(conn, code, _period(year), config).items():
            if dimension in sums:
                sums[dimension][0] += value["elements"]
                sums[dimension][1] += value["failed"]
    out = {}
    for dimension, (elements, failed) in sums.items():
        score = round(1 - failed / elements, 6) if elements else None
        out[dimension] = {"label": DIMENSION_LABELS[dimension], "score": score,
                          "grade": scoring.grade(score, config), "elements": elements, "failed": failed}
    total = scoring.overall({d: v["score"] for d, v in out.items()}, config)
    return {"dimensions": out, "overall": total, "overall_grade": scoring.grade(total, config)}


def _indicator_view(row: dict | None) -> dict | None:
    if row is None:
        return None
    listed = []
    order = list(INDICATOR_LABELS)
    for name, value in sorted((row["indicators"] or {}).items(),
                              key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])):
        value = value if isinstance(value, dict) else {"value": value}
        shown = value.get("value")
        if value.get("unit") == "ratio" and isinstance(shown, (int, float)):
            shown = f"{shown * 100:.1f}%"
        listed.append({"name": name, "label": INDICATOR_LABELS.get(name, name), "value": shown,
                       "score": value.get("score"), "weight": value.get("weight"),
                       "unit": "" if value.get("unit") == "ratio" else value.get("unit") or "",
                       "detail": value.get("detail")})
    flags = []
    for name, entries in (row["flags"] or {}).items():
        if isinstance(entries, (list, tuple)):
            shown = [_flag_text(e) for e in entries]
        elif entries in (None, False):
            shown = []
        else:
            shown = [_flag_text(entries)]
        flags.append({"name": name, "label": FLAG_LABELS.get(name, name), "entries": shown})
    return {"indicators": listed, "flags": flags, "score": None if row["score"] is None else float(row["score"]),
            "grade": row["grade"], "computed_at": row["computed_at"]}


CYCLE_ENGLISH = {"实时": "real-time", "每日": "daily", "每周": "weekly", "每月": "monthly", "每季度": "quarterly",
                 "每半年": "half-yearly", "每年": "yearly", "其他": "other"}
SHARING_ENGLISH = {"无条件共享": "unconditional sharing", "有条件共享": "conditional sharing",
                   "不予共享": "not shared"}


def _local_minute(value) -> str:
    """An ISO instant (or an aware datetime) as local time (Asia/Shanghai) to the minute,
    ``YYYY-MM-DD HH:MM``; anything else unchanged as text."""
    moment = value
    if isinstance(value, str):
        if ":" not in value:  # a date or plain text, not an instant
            return value
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        return moment.astimezone(periods.TIMEZONE).strftime("%Y-%m-%d %H:%M")
    return str(value)


def _flag_text(entry) -> str:
    """One flagged resource as a sentence in Chinese with English, times local to the minute:
    a zombie resource ``R 名称：每日更新，已 11 个周期未交付（最后交付 2025-12-20 00:18） / daily updates,
    11 cycles without delivery (last delivery 2025-12-20 00:18)``; a never-used one
    ``R 名称：有条件共享，期内无人使用 / conditional sharing, not used in the period``. Unknown
    entries: their fields as ``key: value`` (instants local)."""
    if not isinstance(entry, dict):
        return str(entry)
    code = entry.get("resource_code") or entry.get("code") or ""
    name = entry.get("resource_name") or entry.get("name") or ""
    head = " ".join(p for p in (code, name) if p)
    rest = {k: v for k, v in entry.items() if k not in ("resource_code", "code", "resource_name", "name")}
    if "cycles_missed" in rest:
        cycle = rest.get("update_cycle") or ""
        last = rest.get("last_delivery")
        zh = (f"{cycle}更新，" if cycle else "") + f"已 {rest['cycles_missed']} 个周期未交付"
        zh += f"（最后交付 {_local_minute(last)}）" if last else "（从未交付）"
        en = (f"{CYCLE_ENGLISH.get(cycle, cycle)} updates, " if cycle else "") + f"{rest['cycles_missed']} cycles without delivery"
        en += f" (last delivery {_local_minute(last)})" if last else " (never delivered)"
        text = f"{zh} / {en}"
    elif set(rest) <= {"sharing_type"}:
        sharing = rest.get("sharing_type")
        text = (f"{sharing}，期内无人使用 / {SHARING_ENGLISH.get(sharing, sharing)}, not used in the period"
                if sharing else "期内无人使用 / not used in the period")
    else:
        text = ", ".join(f"{k}: {_local_minute(v) if isinstance(v, str) else v}" for k, v in rest.items())
    return f"{head}：{text}" if head and text else head or text


def _ranking(indicator_rows: list[dict], names: dict[str, str]) -> list[dict]:
    """Departments with a year score, best first (ties: by code), with their rank (1 = best)."""
    scored = sorted((r for r in indicator_rows if r["score"] is not None),
                    key=lambda r: (-float(r["score"]), r["department_code"]))
    return [{"rank": n, "code": r["department_code"], "name": names.get(r["department_code"], r["department_name"]),
             "score": float(r["score"]), "grade": r["grade"]} for n, r in enumerate(scored, start=1)]


def context(conn, year: int, department_code: str | None) -> dict:
    """Everything the report of ``department_code`` (``None``: the whole platform) for ``year`` shows.

    Shape: ``{"year", "scope" ("department" | "platform"), "department": {"code", "name"} | None,
    "catalog": {...}, "systems": {"consumers": [...], "channels": {...}},
    "sharing": {"months": [12 x {"month", "loads", "rows_delivered", "rows_loaded", "judged",
    "within_cycle", "timeliness" (0..1 | None), "queries", "rows_read"}], "totals", "received",
    "usage", "made", "consumers_served"}, "evaluation": {"own", "quality", "ranking"},
    "departments" (platform only), "charts": {name: svg | None}, "has_data"}``. Counts are integers,
    rates 0..1, scores 0..100 (indicators) and 0..1 (dimensions). Raises ValueError for an unknown
    department."""
    from baselib.catalog import load_catalog

    names = departments(conn, year)
    if department_code is not None and department_code not in names:
        raise ValueError(f"unknown department {department_code!r}; known: {', '.join(names)}")
    period = _period(year)
    start, end = period.bounds
    provider = department_code
    catalog_resources = [r for r in load_catalog() if provider is None or r.provider.code == provider]
    resource_names = {r.code: r.name for r in load_catalog()}

    consumers = [c for c in _rows(conn, "evaluation_year_consumers")
                 if department_code is None or c["department_code"] == department_code]
    consumer_use = {r["consumer_code"]: r for r in _rows(conn, "evaluation_year_consumer_use",
                                                         {"start_date": period.start, "end_date": period.end})}
    made = _rows(conn, "evaluation_year_applications_made",
                 {"period_start": start, "period_end": end, "department_code": department_code})
    made_by = {m["consumer_code"]: m for m in made}
    systems = []
    for c in consumers:
        m = made_by.get(c["consumer_code"], {})
        u = consumer_use.get(c["consumer_code"], {})
        systems.append({"code": c["consumer_code"], "name": c["consumer_name"], "department": c["department_name"],
                        "active": c["active"], "submitted": m.get("submitted", 0), "approved": m.get("approved", 0),
                        "refused": m.get("refused", 0), "pending": m.get("pending", 0),
                        "queries": u.get("queries", 0), "rows_read": u.get("rows_read", 0),
                        "resources_used": u.get("resources", 0)})

    months = _months(conn, year, provider)
    received = _rows(conn, "evaluation_year_applications_received",
                     {"period_start": start, "period_end": end, "provider_code": provider})[0]
    usage = _rows(conn, "evaluation_year_usage_by_resource",
                  {"start_date": period.start, "end_date": period.end, "provider_code": provider})
    served = set(received["consumers_approved"])
    for row in usage:
        served.update(row["consumers"])
        row["name"] = resource_names.get(row["resource_code"], "")
        row["consumer_count"] = len(row["consumers"])

    indicator_rows = _indicator_rows(conn, year)
    names = departments(conn, year)
    ranking = _ranking(indicator_rows, names)
    own = next((r for r in indicator_rows if r["department_code"] == department_code), None)
    provider_codes = [department_code] if department_code else sorted(
        {r.provider.code for r in catalog_resources} | set(_sync(conn, year, None, "provider_code")))
    quality = _dimension_scores(conn, year, provider_codes)

    catalog = _catalog(conn, catalog_resources, period.end)
    ctx = {
        "year": year, "period": period.label, "scope": "platform" if department_code is None else "department",
        "department": None if department_code is None else {"code": department_code,
                                                            "name": names[department_code]},
        "title": (f"{names[department_code]} {year} 年度数据共享工作报告" if department_code
                  else f"共享平台 {year} 年度数据共享工作报告"),
        "catalog": catalog,
        "systems": {"consumers": systems, "channels": catalog["channels"]},
        "sharing": {"months": months, "totals": _totals(months), "received": received, "usage": usage,
                    "consumers_served": sorted(served),
                    "made": {k: sum(s[k] for s in systems) for k in ("submitted", "approved", "refused", "pending")}},
        "evaluation": {"own": _indicator_view(own), "quality": quality, "ranking": ranking,
                       "rank": next((r["rank"] for r in ranking if r["code"] == department_code), None),
                       "stored": bool(indicator_rows)},
        "departments": _platform_rows(conn, year, names, indicator_rows, ranking) if department_code is None else [],
        "no_data": NO_DATA,
    }
    ctx["has_runs"] = ctx["sharing"]["totals"]["loads"] > 0
    ctx["charts"] = _charts(ctx)
    return ctx


def _platform_rows(conn, year: int, names: dict[str, str], indicator_rows: list[dict], ranking: list[dict]) -> list[dict]:
    """One row per department for the platform report, in ranking order (unscored last, by code)."""
    from baselib.catalog import load_catalog

    period = _period(year)
    start, end = period.bounds
    sync = _sync(conn, year, None, "provider_code")
    use = {}
    for row in _rows(conn, "evaluation_year_usage_by_resource",
                     {"start_date": period.start, "end_date": period.end, "provider_code": None}):
        use[row["resource_code"]] = row
    resources = load_catalog()
    consumers = _rows(conn, "evaluation_year_consumers")
    rank = {r["code"]: r for r in ranking}
    by_code = {r["department_code"]: r for r in indicator_rows}
    rows = []
    for code, name in names.items():
        own = [r.code for r in resources if r.provider.code == code]
        s = sync.get(code, {})
        received = _rows(conn, "evaluation_year_applications_received",
                         {"period_start": start, "period_end": end, "provider_code": code})[0]
        row = by_code.get(code)
        rows.append({"code": code, "name": name, "resources": len(own),
                     "consumers": sum(1 for c in consumers if c["department_code"] == code),
                     "loads": s.get("loads", 0), "rows_loaded": s.get("rows_loaded", 0),
                     "timeliness": _ratio(s.get("within_cycle", 0), s.get("judged", 0)),
                     "received": received["received"], "approved": received["approved"],
                     "queries": sum(use[c]["queries"] for c in own if c in use),
                     "score": None if row is None or row["score"] is None else float(row["score"]),
                     "grade": None if row is None else row["grade"],
                     "rank": rank[code]["rank"] if code in rank else None})
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["code"]))


# -- charts -----------------------------------------------------------------------------------------


def ranking_svg(names: list[str], scores: list[float], marked: int | None = None, *, title: str = "",
                x_label: str = "") -> str:
    """Horizontal bars, best first (top), one per department; the bar at index ``marked`` (this
    department) in a contrasting colour and labelled. Scores 0..100. Returns an inline ``<svg>``."""
    from baselib import charts

    plt, (fig, ax) = charts._figure(7.0, max(2.0, 0.35 * len(names) + 1.0))
    positions = list(range(len(names)))
    colours = ["#d62728" if n == marked else "#1f77b4" for n in positions]
    ax.barh(positions, scores, 0.7, color=colours)
    for n, score in enumerate(scores):
        ax.text(score + 1, n, f"{score:.1f}", va="center", fontsize=7)
    ax.set_yticks(positions, [("▶ " if n == marked else "") + name for n, name in enumerate(names)], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 110)
    ax.set_xlabel(x_label, fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    return charts._svg(plt, fig)


def _charts(ctx: dict) -> dict[str, str | None]:
    from baselib import charts

    months = ctx["sharing"]["months"]
    labels = [m["month"] for m in months]
    out: dict[str, str | None] = {}
    judged = any(m["judged"] for m in months)
    out["timeliness"] = charts.line_svg(
        labels, {"按时更新 within update cycle": [m["timeliness"] for m in months]},
        title="更新及时率（按月）Timeliness by month", y_label="按时 within cycle", y_range=(0, 1.05),
        percent=True) if judged else None
    dims = ctx["evaluation"]["quality"]["dimensions"]
    out["dimensions"] = charts.bar_svg(
        [v["label"].replace(" ", "\n") for v in dims.values()], {"得分 score": [v["score"] for v in dims.values()]},
        title="数据质量维度得分 Quality dimension scores (GB/T 36344-2018)", y_label="得分 score (%)",
        percent=True) if any(v["score"] is not None for v in dims.values()) else None
    volumes = any(m["rows_loaded"] or m["rows_read"] or m["queries"] for m in months)
    out["volumes"] = charts.bar_svg(
        labels, {"入库行数 rows loaded": [m["rows_loaded"] for m in months],
                 "读取行数 rows read": [m["rows_read"] for m in months]},
        title="共享与使用量（按月）Volumes shared and used by month", y_label="行数 rows") if volumes else None
    ranking = ctx["evaluation"]["ranking"]
    code = ctx["department"]["code"] if ctx["department"] else None
    out["ranking"] = ranking_svg(
        [r["name"] for r in ranking], [r["score"] for r in ranking],
        next((n for n, r in enumerate(ranking) if r["code"] == code), None),
        title=f"{ctx['year']} 年度评价得分排名 Ranking by year score", x_label="得分 score (0-100)") if ranking else None
    return out


# -- rendering --------------------------------------------------------------------------------------


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = lambda v: NO_DATA if v is None else f"{v:,}"
    env.filters["pct"] = lambda v, places=1: "—" if v is None else f"{float(v) * 100:.{places}f}%"
    env.filters["score"] = lambda v: "—" if v is None else f"{float(v):.1f}"
    env.filters["value"] = _value_text
    env.filters["css_string"] = _css_string
    return env


def _css_string(value) -> str:
    """``value`` as a CSS string literal (for the page header), safe inside ``<style>``."""
    import markupsafe

    cleaned = "".join(" " if ch in "\\\"'<>\n\r" else ch for ch in str(value))
    return markupsafe.Markup('"' + cleaned + '"')


def _value_text(value) -> str:
    if value is None:
        return "不适用 n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_html(ctx: dict) -> str:
    """The report page (UTF-8 HTML, self-contained: inline CSS and SVG, no script, no remote asset)."""
    return _environment().get_template("yearly_report.html.j2").render(**ctx)


def render_pdf(page_html: str, target: Path) -> None:
    """The PDF of ``page_html`` (A4, print CSS of the page) written to ``target`` (WeasyPrint)."""
    import weasyprint

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    weasyprint.HTML(string=page_html, base_url=str(target.parent)).write_pdf(str(target))


def _index(year_dir: Path, year: int, names: dict[str, str]) -> str:
    reports = []
    if (year_dir / "platform.html").exists():
        reports.append({"href": "platform.html", "pdf": "platform.pdf", "code": PLATFORM, "name": "共享平台 platform"})
    for code, name in names.items():
        if (year_dir / f"{code}.html").exists():
            reports.append({"href": f"{code}.html", "pdf": f"{code}.pdf", "code": code, "name": name})
    return _environment().get_template("yearly_index.html.j2").render(year=year, reports=reports)


def write(conn, year: int, out_dir: Path | None = None, departments: list[str] | None = None) -> list[Path]:
    """Write the ``year`` reports into ``<out_dir>/<year>/`` (default out_dir ``REPORTS_DIR/yearly``):
    per department ``<code>.html`` and ``<code>.pdf`` and ``platform.html`` and ``platform.pdf``
    (``departments``: only these codes, where ``"platform"`` names the platform report; None: every
    department and the platform); then ``index.html`` linking every report in the folder.
    Returns the paths written, in order. Raises ValueError naming an unknown department before
    anything is written. Single-flight per year (advisory lock); each file is replaced atomically."""
    from baselib import settings

    known = globals()["departments"](conn, year)
    if departments is not None:
        unknown = [d for d in departments if d not in known and d != PLATFORM]
        if unknown:
            raise ValueError(f"unknown department {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
    _indicator_rows(conn, year)  # computes (and commits) the year's indicators when none are stored
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"baselib.yearly_report:{year}",))
    try:
        year_dir = Path(out_dir or settings.REPORTS_DIR / "yearly") / str(year)
        year_dir.mkdir(parents=True, exist_ok=True)
        scopes: list[str | None] = ([None if d == PLATFORM else d for d in dict.fromkeys(departments)]
                                    if departments is not None else [*known, None])
        written: list[Path] = []
        for code in scopes:
            ctx = context(conn, year, code)
            page = render_html(ctx)
            stem = code or PLATFORM
            html_path, pdf_path = year_dir / f"{stem}.html", year_dir / f"{stem}.pdf"
            storage.replace_local(html_path, page)
            storage.replace_local(pdf_path, lambda p, page=page: render_pdf(page, p))
            written += [html_path, pdf_path]
            log.info("yearly report %s %s: %s", year, stem, html_path)
        index = year_dir / "index.html"
        names = globals()["departments"](conn, year)
        storage.replace_local(index, _index(year_dir, year, names))
        written.append(index)
    finally:
        conn.rollback()  # read-only: releases the lock
    return written


# -- command ----------------------------------------------------------------------------------------


def _fail(message: str) -> None:
    print(f"error: {message.strip()}", file=sys.stderr)
    sys.exit(1)


def command_report(args) -> None:
    """``evaluation report [--year Y] [--department CODE]... [--output DIR]``: write the yearly
    reports and print each path. Default year: the previous calendar year (Asia/Shanghai)."""
    import psycopg2

    from baselib.errors import BaselibError
    from baselib.security import redaction
    from baselib.warehouse import connections, schema

    today = dt.datetime.now(periods.TIMEZONE).date()
    year = args.year if args.year is not None else periods.last_complete("year").start.year
    if not 2000 <= year <= today.year:
        _fail(f"--year must be between 2000 and {today.year}, got {year}")
    if args.output:
        output = Path(args.output)
        for place in (output, output / str(year)):
            if place.exists() and not place.is_dir():
                _fail(f"--output {output}: {place} exists and is not a directory")
    try:
        conn = connections.connect("warehouse")
    except (LookupError, psycopg2.OperationalError) as exc:
        _fail(f"cannot connect to the warehouse: {redaction.redact(str(exc))}")
    try:
        schema.ensure(conn, [])
        paths = write(conn, year, Path(args.output) if args.output else None, args.department)
    except (BaselibError, LookupError, ValueError) as exc:
        _fail(redaction.redact(str(exc)))
    except OSError as exc:  # the output folder cannot be made or written
        _fail(f"cannot write the reports to {args.output or 'REPORTS_DIR/yearly'}: {exc}")
    finally:
        conn.close()
    for path in paths:
        print(path)
