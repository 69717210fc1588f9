"""Evaluation indicators (共享评价指标) and flags per department and period.

Departments: every catalog provider (提供方, ``provider.code``/``name``) and every department with a
consumer system (include/sharing/consumers.yaml and ``sharing.consumer``), keyed by the department's
code (统一社会信用代码). A provider's name comes from the catalog, else the consumer record.

:func:`compute` works out, from what happened in the period (``Period.bounds``, Asia/Shanghai), per
department, every indicator of include/evaluation/indicators.yaml (:mod:`baselib.evaluation.config`) as::

    {"value": float | int | None, "score": float 0..100 | None, "weight": float, "unit": str,
     "applicable": bool, "detail": {...}}

Provision (departments that provide at least one catalog resource):

* ``catalog_completeness`` (unit ``ratio``): what the provider actually delivered in the period. Over
  the department's resources catalogued (publish date, 00:00 local) by the period's end (or ``now``, if
  earlier): catalogued items with a value (non-null) in at least one load of the period
  (:func:`counted_loads`: by data day, successful loads) / catalogued items. What a load delivered is
  recorded at extract (``ops.load_run.items_delivered``, ``{item: non-null values read}``, from the
  Parquet parts' statistics). A resource with no load in the period (never delivered, or not due in
  it) delivers none of its items but counts in the denominator. A load recorded before
  ``items_delivered`` existed (NULL) falls back to what it wrote: the items holding a value in a row
  version it wrote to the warehouse (``_load_id``; rows it read unchanged are not seen, so this can
  only undercount) count as delivered too. Not applicable when none of its resources was catalogued
  yet. score = 100 x value. Detail per resource: ``{"items", "delivered", "loads"}`` (+
  ``"unrecorded_loads", "rows_written"`` on the fallback).
* ``timeliness`` (``ratio``): loads whose data was within the update cycle when due
  (``evaluation.sync_metrics.within_update_cycle``) / loads judged (其他 is not judged); one judgement
  per resource and data day, on its latest load (data day = the run's data interval start, else its
  logical date, else the day it started, as a local date in Asia/Shanghai) in the period. The loads come from :func:`counted_loads`, the one rule the
  yearly report uses too.
* ``quality`` (``ratio``): :func:`baselib.quality.scoring.provider_scores` ``["overall"]``; detail: the
  six dimension scores (0..1) and grades. score = 100 x value.
* ``quarantine_rate`` (``ratio``): rows quarantined / rows extracted over the loads of
  :func:`counted_loads` whose rows count (a full extract rerun of a day replaces that day's rows;
  incremental loads each count: the quality scores' rule). score = 100 x max(0, 1 - rate / max_rate).
* ``objections_on_time`` (``ratio``): objection limits whose deadline falls in the period, met /
  judged; each answer limit and each correction limit of a confirmed objection counts once, on time as
  ``evaluation.objection_outcome`` counts it (answered_at <= answer_due_at, resolved_at <=
  correction_due_at); a limit not yet passed with nothing done is not judged yet.
* ``application_response`` (``ratio``): applications to its resources whose limit (``due_at``) falls in
  the period, decided before it (``decided_at < due_at``) / judged. Detail: received, decided, mean
  working days and hours to a decision made in the period, pending past the limit at the period's end.

Use (departments with consumer systems):

* ``applications_made`` (``applications``): applications its systems filed in the period.
  score = 100 x min(1, n / target); the file's target is per month, the period's target is it times
  the period's months (a quarter 3x, a year 12x; ``detail.target``).
* ``measured_use`` (``queries``): queries its systems ran on shared views in the period
  (``evaluation.sharing_usage``); detail rows read, resources, days. score = 100 x min(1, n / target),
  target per month scaled as above. Not applicable when the platform measured no use at all in the
  period.

An indicator with no data in the period (nothing judged) has ``applicable: false``, ``value`` and
``score`` None, and is left out of the department's score: the weighted mean (0..100, 3 places) of the
applicable indicators' scores, graded by the file's ``grades``. A department that provides nothing is
scored on use only, and the other way round (the other group is present but not applicable).

Flags (``{"zombie_resources": [...], "unused_resources": [...]}``):

* ``zombie_resources``: the department's resources (update cycle not 其他) catalogued by ``as_of``
  whose provider's last delivery — the latest ``evaluation.sync_metrics.judged_at`` (when the load's
  data was due: a backfill or rerun of an old data day delivers at that day, never at the platform's
  load time) of a load bringing new data (rows inserted, updated or deleted), at or before ``as_of`` —
  or the catalog's publish date (00:00 local) if later or never delivered, lies more than
  ``flags.zombie_cycles`` whole update cycles back:
  ``cycles_missed = floor((as_of - max(last_delivery, publish)) / cycle)`` with the cycle lengths
  of :data:`baselib.records.sync_metrics.CYCLE_SECONDS` (每日 1 day, 每月 31 days, ...), flagged when
  ``cycles_missed > zombie_cycles``. Entry: ``{"resource_code", "resource_name", "update_cycle",
  "last_delivery" (ISO instant or None), "cycles_missed"}``.
* ``unused_resources`` (when ``flags.unused``): its resources shared (not 不予共享) that no consumer
  queried in the period; only when use was measured in the period at all, and only resources whose
  publish date is on or before the last day use was measured (a resource not yet catalogued could not
  be used). Entry: ``{"resource_code", "resource_name", "sharing_type"}``.

``as_of`` defaults to min(now, the period's end). Rows are stored in ``evaluation.indicator`` (upsert,
``payload_sha256 = payload.digest(payload.build(row))``) in one transaction under an advisory lock per
period; recomputing an unchanged period changes nothing but ``computed_at``.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import sys

from psycopg2 import sql

from baselib.catalog import Resource, load_catalog
from baselib.catalog.model import SharingType
from baselib.evaluation import config as evaluation_config
from baselib.evaluation import payload, periods
from baselib.quality import scoring
from baselib.records.sync_metrics import CYCLE_SECONDS
from baselib.warehouse import schema, sqlfiles

UNITS = {"catalog_completeness": "ratio", "timeliness": "ratio", "quality": "ratio", "quarantine_rate": "ratio",
         "objections_on_time": "ratio", "application_response": "ratio", "applications_made": "applications",
         "measured_use": "queries"}


def _r(value, places: int = 6):
    return None if value is None else round(float(value), places)


def _indicator(name: str, cfg: dict, value, score, detail: dict) -> dict:
    applicable = score is not None
    return {"value": value if applicable else None, "score": _r(score, 3) if applicable else None,
            "weight": evaluation_config.weight(cfg, name), "unit": UNITS[name], "applicable": applicable,
            "detail": detail}


def _ratio_indicator(name: str, cfg: dict, met: int, judged: int, detail: dict) -> dict:
    value = _r(met / judged) if judged else None
    return _indicator(name, cfg, value, None if value is None else 100 * value, detail)


# --- departments -----------------------------------------------------------------------------------------


def list_departments(conn, catalog: list[Resource] | None = None) -> dict[str, dict]:
    """``{code: {"code", "name", "resources": [Resource], "consumers": [consumer_code]}}``, ordered by code."""
    from baselib.errors import SharingError
    from baselib.sharing import consumers as consumers_file

    catalog = load_catalog() if catalog is None else catalog
    out: dict[str, dict] = {}
    for resource in catalog:
        entry = out.setdefault(resource.provider.code, {"code": resource.provider.code, "name": resource.provider.name,
                                                        "resources": [], "consumers": []})
        entry["resources"].append(resource)
    declared = []
    try:
        declared = [(c.code, c.department.code, c.department.name) for c in consumers_file.load()]
    except SharingError:
        pass
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/evaluation_ind_consumers"))
        stored = cur.fetchall()
    for code, department_code, department_name in declared + stored:
        entry = out.setdefault(department_code, {"code": department_code, "name": department_name,
                                                 "resources": [], "consumers": []})
        if code not in entry["consumers"]:
            entry["consumers"].append(code)
    return dict(sorted(out.items()))


# --- provision -------------------------------------------------------------------------------------------


def _published_at(resource: Resource) -> dt.datetime:
    """When ``resource`` entered the catalog: its publish date (发布日期) at 00:00 Asia/Shanghai."""
    return dt.datetime.combine(resource.publish_date, dt.time(), periods.TIMEZONE)


def _completeness(cur, resources: list[Resource], at: dt.datetime, loads: list[dict], cfg: dict,
                  period_start: dt.datetime) -> dict:
    """Catalog completeness over ``resources`` catalogued before ``at``, from what ``loads`` (the
    period's :func:`counted_loads` of the provider) delivered (``ops.load_run.items_delivered``). A
    resource with no load in the period (not due in it: a quarterly resource in a month) is judged on
    its latest load before ``period_start`` (its detail says ``carried_from``); one never loaded
    delivers none of its items."""
    by_resource: dict[str, list[int]] = {}
    for load in loads:
        by_resource.setdefault(load["resource_code"], []).append(load["load_id"])
    carried: dict[str, int] = {}
    idle = [r.code for r in resources if r.code not in by_resource and _published_at(r) < at]
    if idle:
        cur.execute(sqlfiles.text("queries/evaluation_ind_latest_load_before"),
                    {"resource_codes": idle, "before": period_start})
        carried = {code: load_id for load_id, code in cur.fetchall()}
        for code, load_id in carried.items():
            by_resource[code] = [load_id]
    delivered_by_load: dict[int, dict | None] = {}
    load_ids_all = sorted({load_id for ids in by_resource.values() for load_id in ids})
    if load_ids_all:
        cur.execute(sqlfiles.text("queries/evaluation_ind_items_delivered"), {"load_ids": load_ids_all})
        delivered_by_load = {load_id: items for load_id, _, items in cur.fetchall()}
    catalogued = delivered = 0
    per_resource = {}
    for resource in resources:
        if _published_at(resource) >= at:
            continue  # not catalogued yet at that instant
        names = [i.name for i in resource.items]
        load_ids = by_resource.get(resource.code, [])
        recorded = [delivered_by_load.get(load_id) for load_id in load_ids]
        filled = {name for items in recorded if items for name in names if (items.get(name) or 0) > 0}
        entry = {"items": len(names), "delivered": 0, "loads": 0 if resource.code in carried else len(load_ids)}
        if resource.code in carried:
            entry["carried_from"] = carried[resource.code]  # the load id judged in its place
        unrecorded = [load_id for load_id, items in zip(load_ids, recorded) if items is None]
        if unrecorded:
            # loads recorded before items_delivered existed: the items holding a value in a row version
            # those loads wrote to the warehouse (added to what the recorded loads delivered)
            entry["unrecorded_loads"] = len(unrecorded)
            history = schema.history_table(resource)
            cur.execute(sqlfiles.text("queries/evaluation_ind_relation_exists"), {"name": history})
            written = 0
            if cur.fetchone()[0]:
                counts = sql.SQL(", ").join(sql.SQL("count({})").format(sql.Identifier(n)) for n in names)
                cur.execute(sqlfiles.compose("queries/evaluation_ind_completeness", counts=counts,
                                             history=sqlfiles.ident(history)), {"load_ids": unrecorded})
                written, *values = cur.fetchone()
                filled |= {name for name, v in zip(names, values) if v}
            entry["rows_written"] = written
        entry["delivered"] = len(filled)
        catalogued += len(names)
        delivered += len(filled)
        per_resource[resource.code] = entry
    return _ratio_indicator("catalog_completeness", cfg, delivered, catalogued,
                            {"items": catalogued, "delivered": delivered, "resources": per_resource, "at": at.isoformat()})


def counted_loads(cur, period_start: dt.datetime, period_end: dt.datetime,
                  provider_code: str | None = None) -> list[dict]:
    """The loads the evaluation counts whose data day lies in ``[period_start, period_end)`` (aware),
    of one provider or (``None``) every provider: one dict per load with ``load_id``,
    ``provider_code``, ``resource_code``, ``data_day`` (local date), ``month`` (``YYYY-MM``),
    ``within_update_cycle`` (bool | None: not judged), ``rows_extracted``, ``rows_quarantined``,
    ``rows_loaded`` (inserted + updated), ``latest_of_day`` and ``counts_rows`` (the rule:
    include/sql/queries/evaluation_ind_loads.sql). The timeliness and quarantine indicators and the
    yearly report count loads only through this function (:func:`summarize_loads`)."""
    cur.execute(sqlfiles.text("queries/evaluation_ind_loads"),
                {"provider_code": provider_code, "period_start": period_start, "period_end": period_end})
    names = [d.name for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def summarize_loads(loads: list[dict]) -> dict:
    """Totals of :func:`counted_loads` rows: ``{"loads"`` (resource data days, each judged on its
    latest load), ``"resources"``, ``"judged"``, ``"on_time"`` (of those loads), ``"rows_extracted"``,
    ``"rows_quarantined"``, ``"rows_loaded"`` (over the loads whose rows count)``}``, all ints."""
    latest = [load for load in loads if load["latest_of_day"]]
    rows = [load for load in loads if load["counts_rows"]]
    return {"loads": len(latest), "resources": len({load["resource_code"] for load in loads}),
            "judged": sum(1 for load in latest if load["within_update_cycle"] is not None),
            "on_time": sum(1 for load in latest if load["within_update_cycle"]),
            "rows_extracted": int(sum(load["rows_extracted"] or 0 for load in rows)),
            "rows_quarantined": int(sum(load["rows_quarantined"] or 0 for load in rows)),
            "rows_loaded": int(sum(load["rows_loaded"] or 0 for load in rows))}


def _provision(conn, cur, department: dict, period: periods.Period, now: dt.datetime, cfg: dict) -> dict:
    start, end = period.bounds
    code = department["code"]
    loads = counted_loads(cur, start, end, code)
    out = {"catalog_completeness": _completeness(cur, department["resources"], min(end, now), loads, cfg, start)}

    summary = summarize_loads(loads)
    loads, resources, judged, on_time = summary["loads"], summary["resources"], summary["judged"], summary["on_time"]
    extracted, quarantined = summary["rows_extracted"], summary["rows_quarantined"]
    out["timeliness"] = _ratio_indicator("timeliness", cfg, on_time, judged,
                                         {"loads": loads, "judged": judged, "on_time": on_time,
                                          "late": judged - on_time, "resources": resources})

    quality = scoring.provider_scores(conn, code, period)
    overall = quality["overall"]["score"]
    out["quality"] = _indicator("quality", cfg, overall, None if overall is None else 100 * overall,
                                {"grade": quality["overall"]["grade"],
                                 "dimensions": {d: {"score": v["score"], "grade": v["grade"], "elements": v["elements"],
                                                    "failed": v["failed"]}
                                                for d, v in quality.items() if d != "overall"}})

    max_rate = evaluation_config.settings(cfg, "quarantine_rate")["max_rate"]
    rate = _r(quarantined / extracted) if extracted else None
    out["quarantine_rate"] = _indicator(
        "quarantine_rate", cfg, rate, None if rate is None else 100 * max(0.0, 1 - rate / max_rate),
        {"rows_extracted": extracted, "rows_quarantined": quarantined, "loads": loads, "max_rate": max_rate})

    params = {"provider_code": code, "period_start": start, "period_end": end, "now": now}
    cur.execute(sqlfiles.text("queries/evaluation_ind_objections"), params)
    raised, answers_due, answered_on_time, corrections_due, corrected_on_time, mean_hours = cur.fetchone()
    out["objections_on_time"] = _ratio_indicator(
        "objections_on_time", cfg, answered_on_time + corrected_on_time, answers_due + corrections_due,
        {"raised": raised, "answers_due": answers_due, "answered_on_time": answered_on_time,
         "corrections_due": corrections_due, "corrected_on_time": corrected_on_time,
         "mean_hours_to_answer": _r(mean_hours, 2)})

    cur.execute(sqlfiles.text("queries/evaluation_ind_applications"), params)
    received, due, on_time_apps, decided, mean_days, mean_hours, pending_overdue = cur.fetchone()
    out["application_response"] = _ratio_indicator(
        "application_response", cfg, on_time_apps, due,
        {"received": received, "due": due, "on_time": on_time_apps, "late": due - on_time_apps, "decided": decided,
         "mean_working_days": _r(mean_days, 2), "mean_hours": _r(mean_hours, 2), "pending_overdue": pending_overdue})
    return out


def _not_applicable(names, cfg: dict, reason: str) -> dict:
    return {name: _indicator(name, cfg, None, None, {"reason": reason}) for name in names}


# --- use -------------------------------------------------------------------------------------------------


def _use(cur, department: dict, period: periods.Period, measured: bool, cfg: dict) -> dict:
    start, end = period.bounds
    cur.execute(sqlfiles.text("queries/evaluation_ind_use"),
                {"consumer_codes": department["consumers"], "period_start": start, "period_end": end,
                 "first_day": period.start, "end_day": period.end})
    applications, refused, queries, rows_read, resources, days = cur.fetchone()
    months = len(period.months())  # targets are per month: a quarter's is 3x, a year's 12x
    target = evaluation_config.settings(cfg, "applications_made")["target"] * months
    out = {"applications_made": _indicator(
        "applications_made", cfg, applications, 100 * min(1.0, applications / target),
        {"refused": refused, "target": target, "consumers": list(department["consumers"])})}
    target = evaluation_config.settings(cfg, "measured_use")["target"] * months
    out["measured_use"] = _indicator(
        "measured_use", cfg, queries if measured else None, 100 * min(1.0, queries / target) if measured else None,
        {"rows_read": rows_read, "resources": resources, "days": days, "target": target, "measured": measured})
    return out


# --- flags -----------------------------------------------------------------------------------------------


def _zombies(cur, resources: list[Resource], as_of: dt.datetime, cycles: int) -> list[dict]:
    # judged from its publish date on: a resource not yet catalogued at as_of is not judged
    judged = [r for r in resources if CYCLE_SECONDS[r.update_cycle] is not None and _published_at(r) <= as_of]
    if not judged:
        return []
    cur.execute(sqlfiles.text("queries/evaluation_ind_last_delivery"),
                {"resource_codes": [r.code for r in judged], "as_of": as_of})
    last = dict(cur.fetchall())
    out = []
    for resource in judged:
        delivered = last.get(resource.code)
        since = max(delivered, _published_at(resource)) if delivered else _published_at(resource)
        missed = max(0, math.floor((as_of - since).total_seconds() / CYCLE_SECONDS[resource.update_cycle]))
        if missed > cycles:
            out.append({"resource_code": resource.code, "resource_name": resource.name,
                        "update_cycle": resource.update_cycle.value,
                        "last_delivery": delivered.isoformat() if delivered else None, "cycles_missed": missed})
    return out


def _unused(cur, resources: list[Resource], period: periods.Period, last_measured: dt.date | None) -> list[dict]:
    # only what use was measured for: nothing when no use was measured in the period, and only resources
    # catalogued (publish date) on or before the last day use was measured
    if last_measured is None:
        return []
    shared = [r for r in resources if r.sharing.type is not SharingType.not_shared
              and r.publish_date <= last_measured]
    if not shared:
        return []
    cur.execute(sqlfiles.text("queries/evaluation_ind_used_resources"),
                {"resource_codes": [r.code for r in shared], "first_day": period.start, "end_day": period.end})
    used = {code for (code,) in cur.fetchall()}
    return [{"resource_code": r.code, "resource_name": r.name, "sharing_type": r.sharing.type.value}
            for r in shared if r.code not in used]


# --- compute ---------------------------------------------------------------------------------------------


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value


EARLIEST = dt.date(2000, 1, 1)   # no period ending on or before this day is evaluated


def check_period(period: periods.Period, now: dt.datetime | None = None) -> None:
    """Raise ValueError for a period that cannot be evaluated: one that starts after ``now`` (aware;
    default the current time: nothing has happened in it yet) or lies wholly before
    :data:`EARLIEST` (2000-01-01: ends on or before it)."""
    now = _aware(now, "now") if now else dt.datetime.now(dt.timezone.utc)
    start, _ = period.bounds
    if start > now:
        raise ValueError(f"{period.kind} {period.label} starts {start.isoformat()}, after now "
                         f"({now.astimezone(periods.TIMEZONE).isoformat()}): a future period cannot be evaluated")
    if period.end <= EARLIEST:
        raise ValueError(f"{period.kind} {period.label} ends {period.end}, before {EARLIEST}: "
                         "no period before 2000 is evaluated")


def compute(conn, period: periods.Period, *, departments: list[str] | None = None, as_of: dt.datetime | None = None,
            config: dict | None = None, catalog: list[Resource] | None = None,
            now: dt.datetime | None = None) -> list[dict]:
    """Compute, store and return the ``evaluation.indicator`` rows (dicts of its columns, without
    ``computed_at``) of ``period`` for every department, or those whose codes ``departments`` lists
    (ValueError naming unknown codes). ``as_of``: when flags are judged (default min(now, period end));
    ``now``: the instant deadlines are judged at (default the current time). ValueError (nothing
    stored) for a period :func:`check_period` refuses: one starting after ``now``, or before 2000.
    Commits."""
    cfg = config or evaluation_config.load_config()
    now = _aware(now, "now") if now else dt.datetime.now(dt.timezone.utc)
    check_period(period, now)
    start, end = period.bounds
    as_of = _aware(as_of, "as_of") if as_of else min(now, end)
    catalog = load_catalog() if catalog is None else catalog
    known = list_departments(conn, catalog)
    if departments:
        unknown = sorted(set(departments) - set(known))
        if unknown:
            raise ValueError(f"unknown department codes {unknown}; known: {sorted(known)}")
        known = {code: d for code, d in known.items() if code in set(departments)}
    rows = []
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/evaluation_ind_lock"), {"period_kind": period.kind, "period": period.label})
        cur.execute(sqlfiles.text("queries/evaluation_ind_use_measured"),
                    {"first_day": period.start, "end_day": period.end})
        last_measured = cur.fetchone()[0]
        measured = last_measured is not None
        for department in known.values():
            indicators = {}
            if department["resources"]:
                indicators.update(_provision(conn, cur, department, period, now, cfg))
            else:
                indicators.update(_not_applicable(evaluation_config.INDICATORS["provision"], cfg,
                                                  "provides no catalog resource"))
            if department["consumers"]:
                indicators.update(_use(cur, department, period, measured, cfg))
            else:
                indicators.update(_not_applicable(evaluation_config.INDICATORS["use"], cfg, "has no consumer system"))
            scored = [(i["weight"], i["score"]) for i in indicators.values() if i["applicable"] and i["weight"] > 0]
            total = sum(w for w, _ in scored)
            score = round(sum(w * s for w, s in scored) / total, 3) if total else None
            flags = {"zombie_resources": _zombies(cur, department["resources"], as_of, cfg["flags"]["zombie_cycles"]),
                     "unused_resources": _unused(cur, department["resources"], period, last_measured) if cfg["flags"]["unused"] else []}
            row = {"department_code": department["code"], "department_name": department["name"],
                   "period_kind": period.kind, "period": period.label, "period_start": period.start,
                   "period_end": period.end, "indicators": indicators, "flags": flags, "score": score,
                   "grade": evaluation_config.grade(score, cfg)}
            row["payload_sha256"] = payload.digest(payload.build(row))
            cur.execute(sqlfiles.text("queries/evaluation_ind_upsert"),
                        {**row, "indicators": json.dumps(indicators, ensure_ascii=False, sort_keys=True),
                         "flags": json.dumps(flags, ensure_ascii=False, sort_keys=True)})
            rows.append(row)
    conn.commit()
    return rows


def stored(conn, period: periods.Period, departments: list[str] | None = None) -> list[dict]:
    """The stored rows of ``period`` (all columns, incl. ``computed_at``), by department code."""
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/evaluation_ind_show"),
                    {"period_kind": period.kind, "period": period.label, "departments": departments or None})
        names = [d.name for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


# --- CLI -------------------------------------------------------------------------------------------------

_SHORT = {"catalog_completeness": "completeness", "timeliness": "timely", "quality": "quality",
          "quarantine_rate": "quarantine", "objections_on_time": "objections", "application_response": "app.resp",
          "applications_made": "apps made", "measured_use": "queries"}


def _cell(indicator: dict) -> str:
    if not indicator["applicable"]:
        return "n/a"
    value = indicator["value"]
    if indicator["unit"] == "ratio":
        return f"{100 * value:.1f}%"
    return str(value)


def format_table(rows: list[dict]) -> str:
    """A plain-text table: department, score, grade, each indicator's value (ratios in %), flags."""
    names = list(_SHORT)
    header = ["department", "name", "score", "grade", *[_SHORT[n] for n in names], "flags"]
    lines = [header]
    for row in rows:
        flags = row["flags"]
        zombies = [f"zombie {z['resource_code']} ({z['cycles_missed']} cycles)" for z in flags["zombie_resources"]]
        unused = [f"unused {u['resource_code']}" for u in flags["unused_resources"]]
        lines.append([row["department_code"], row["department_name"],
                      "n/a" if row["score"] is None else f"{float(row['score']):.1f}", row["grade"] or "-",
                      *[_cell(row["indicators"][n]) if n in row["indicators"] else "-" for n in names],
                      "; ".join(zombies + unused) or "-"])
    widths = [max(_width(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for line in lines:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(line[:-1])]
        out.append("  ".join(cells + [line[-1]]))
    return "\n".join(out)


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _fail(message: str):
    print(f"error: {message.strip()}", file=sys.stderr)
    sys.exit(1)


def _period(args) -> periods.Period:
    try:
        return periods.parse(args.period_kind, args.period) if args.period else periods.last_complete(args.period_kind)
    except ValueError as exc:
        _fail(str(exc))


def _evaluable(period: periods.Period) -> periods.Period:
    try:
        check_period(period)
    except ValueError as exc:
        _fail(str(exc))
    return period


def _run(args, func):
    import psycopg2

    from baselib.errors import BaselibError
    from baselib.security import redaction
    from baselib.warehouse import connections

    period = _period(args)
    try:
        conn = connections.connect("warehouse")
    except (LookupError, psycopg2.OperationalError) as exc:
        _fail(f"cannot connect to the warehouse: {redaction.redact(str(exc))}")
    try:
        schema.ensure(conn, [])
        return func(conn, period)
    except (BaselibError, ValueError, LookupError) as exc:
        conn.rollback()
        _fail(redaction.redact(str(exc)))
    finally:
        conn.close()


def command_compute(args) -> None:
    """``evaluation compute``: compute and store a period's indicators, print the table. ``error: …``
    and exit 1, nothing stored, for a bad or refused period (:func:`check_period`)."""
    as_of = None
    if getattr(args, "as_of", None):
        try:
            as_of = dt.datetime.fromisoformat(args.as_of.strip())
        except ValueError:
            _fail(f"--as-of must be an ISO date or time, got {args.as_of!r}")
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=periods.TIMEZONE)

    _evaluable(_period(args))  # refused before anything is opened or stored

    def run(conn, period):
        rows = compute(conn, period, departments=args.department, as_of=as_of)
        print(f"evaluation indicators {period.kind} {period.label} [{period.start}, {period.end}): "
              f"{len(rows)} departments")
        print(format_table(rows))

    _run(args, run)


def command_show(args) -> None:
    """``evaluation show``: print a period's stored indicators (nothing is computed)."""

    def run(conn, period):
        rows = stored(conn, period, args.department)
        if not rows:
            _fail(f"no indicators stored for {period.kind} {period.label}: run `evaluation compute` first")
        print(f"evaluation indicators {period.kind} {period.label} [{period.start}, {period.end}): "
              f"{len(rows)} departments, computed at {max(r['computed_at'] for r in rows).isoformat()}")
        print(format_table(rows))

    _run(args, run)
