"""A year (or any range) of platform history, as the engine would have recorded it: for the demo, the
yearly sharing report and the evaluation tests (indicators, zombie and never-used flags).

:func:`simulate` writes, deterministically for a ``seed``:

* **Runs** — for every catalog resource and every scheduled **data day** of its update cycle in
  ``[start, end)`` (Asia/Shanghai dates): one ``ops.load_run`` row as Airflow would have run it at
  the end of that day's interval (the run day: the next scheduled day, possibly ``end`` or later):
  ``logical_date = data_interval_start`` = the data day at 00:00 local, ``data_interval_end`` = the
  run day at 00:00 local, run id ``simulated__<data day>``, status ``success``, ``finished_at`` = the
  run day at 00:05..00:55 local. So ``--start 2025-01-01 --end 2026-11-01`` of a daily resource
  writes data days 2025-01-01 … 2026-10-31. Counts are accounted: ``rows_extracted = rows_inserted
  + rows_updated + rows_unchanged + rows_quarantined``, and every run brings new data
  (``rows_inserted + rows_updated >= 1``). ``items_delivered`` (what the extract read, per item,
  non-null): every item, a non-nullable one in every extracted row, a nullable one in 60..100 % of
  them — except :func:`undelivered_item` (one nullable item of one resource, never delivered: 0), so
  catalog completeness is below 100 % for that provider. Scheduled days: 实时/每日 every day, 每周 each
  Monday, 每月 and 其他 the 1st of each month, 每季度 the 1st of Jan/Apr/Jul/Oct, 每半年 Jan 1 and
  Jul 1, 每年 Jan 1.
* **Sync metrics** — ``evaluation.sync_metrics`` through :func:`baselib.records.sync_metrics.record`
  (the engine's own rule). About one run in eight (per resource and day, from the seed) is late: its
  ``newest_source_update`` is older than the update cycle (``CYCLE_SECONDS``) plus 1..3 days at the
  interval end; the others' newest data is 1..60 % of a cycle old.
* **Dimension scores** — ``evaluation.quality_score``: the six GB/T 36344 dimensions plus ``overall``
  (``baselib.quality.scoring.overall`` / ``grade``). ``timely`` has one element, failed when the run is
  late (no element for 其他); ``accessible`` one element, never failed; the four row dimensions 1..4
  checks over the extracted rows, with a few failures (the quarantined rows count under ``complete``).
* **Measured use** — ``evaluation.sharing_usage``: each shareable resource (not 不予共享, not in
  ``unused``) is used by 1..3 consumers (from include/sharing/consumers.yaml and ``sharing.consumer``),
  each on every Monday-to-Friday day in the range: ``queries`` 1..40, ``rows_read`` 1..200 per query.
* **Applications** — for consumers present in ``sharing.consumer`` (the FK), one per consumer per
  calendar quarter that starts in the range, to a random shareable resource, already decided (about one in
  four after ``due_at``; one in five refused) and over: status ``expired`` (approved, period of 30 days
  ending before both ``end`` and today) or ``refused``. ``decided_by = 'simulator'``. Never an approved
  application whose period covers today (the grant reconcile would build views).

**Never the future**: history is what already happened at ``now`` (default the current time): a run
that would finish after ``now`` is not written (nor its metrics and scores), measured use covers the
days before today only (a day's use is collected when it ends), applications are over before today.
A range reaching past today is cut there. The range is bounded: ``start`` no later than today and no
more than :data:`MAX_DAYS` days long (ValueError otherwise).

**Publish dates**: history is written from ``start`` whatever a resource's catalog publish date: the
catalog's publish dates are in 2026 and the demo needs the 2025 yearly report, as if the platform
delivered the resources before their catalog entries were formally published. The evaluation flags
judge a resource only from its publish date on (:mod:`baselib.evaluation.indicators`).

``zombies``: ``{resource_code: date}`` — the last data day that resource delivers (its last run is the
one for that data day, if it is a scheduled one); it gets no run for a later data day.
``unused``: resource codes that get no measured use and no application.

Idempotent: rerunning the same range replaces rather than duplicates (runs upsert on
``(resource_code, run_id)``; simulated runs in the range not written this time are removed with their
scores and metrics; usage upserts per day, consumer and resource; simulated applications submitted in
the range are replaced: runs by data day). Applies the shared DDL and publishes the catalog entries first (commits).
Commits its own transaction, under one advisory lock (one simulation at a time).

Returns ``{"runs", "late_runs", "removed_runs", "quality_scores", "usage_rows", "applications",
"resources", "consumers"}`` (counts; ``resources``/``consumers``: codes used).
"""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable

from psycopg2.extras import Json, execute_values

from baselib.catalog import Resource, load_catalog
from baselib.catalog.model import SharingType, UpdateCycle
from baselib.catalog.publish import publish
from baselib.evaluation.periods import TIMEZONE
from baselib.quality import scoring
from baselib.records import sync_metrics
from baselib.warehouse import schema, sqlfiles

RUN_PREFIX = "simulated__"
ROW_DIMENSIONS = ("normative", "complete", "accurate", "consistent")
MAX_DAYS = 5 * 366   # the longest range simulate() writes (five years)
# "simhist" — serialises simulations (and the indicator computation reading them is separate).
_LOCK_KEY = 0x7369_6D68_6973_74


def _rng(seed, *parts) -> random.Random:
    return random.Random(f"{seed}|" + "|".join(str(p) for p in parts))


def _months_from(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def scheduled_days(cycle: UpdateCycle, start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """``[(data day, run day)]`` for ``cycle``, data days in ``[start, end)``: each run covers
    ``[data day, run day)``, the interval between two scheduled days, and happens at its end (the run
    day, which may be ``end`` or later)."""
    out: list[tuple[dt.date, dt.date]] = []
    if cycle in (UpdateCycle.realtime, UpdateCycle.daily, UpdateCycle.weekly):
        step = 7 if cycle is UpdateCycle.weekly else 1
        day = start + dt.timedelta(days=(7 - start.weekday()) % 7) if step == 7 else start
        while day < end:
            out.append((day, day + dt.timedelta(days=step)))
            day += dt.timedelta(days=step)
        return out
    step = {UpdateCycle.monthly: 1, UpdateCycle.other: 1, UpdateCycle.quarterly: 3,
            UpdateCycle.half_yearly: 6, UpdateCycle.yearly: 12}[cycle]
    day = dt.date(start.year, 1, 1)
    while day < end:
        if day >= start:
            out.append((day, _months_from(day, step)))
        day = _months_from(day, step)
    return out


def undelivered_item(catalog: list[Resource]) -> tuple[str, str] | None:
    """``(resource code, item)`` the simulated provider never delivers (its ``items_delivered`` count
    stays 0), so catalog completeness is below 100 % for one provider: the first nullable, non-key
    item of the first resource (by code) of ``catalog`` that has one (the population's ``ethnicity``
    in the shipped catalog); None when no resource has a nullable item."""
    for resource in sorted(catalog, key=lambda r: r.code):
        for item in resource.items:
            if item.nullable and not item.key:
                return resource.code, item.name
    return None


def _items_delivered(resource: Resource, seed, day: dt.date, rows: int, never: str | None) -> dict[str, int]:
    """A run's ``items_delivered``: every item of its ``rows`` extracted rows, a non-nullable item in
    each row, a nullable one in 60..100 % of them (at least one), ``never`` (an item name) in none."""
    rnd = _rng(seed, resource.code, day.isoformat(), "items")
    out = {}
    for item in resource.items:
        if item.name == never:
            out[item.name] = 0
        elif item.nullable:
            out[item.name] = max(1, int(rows * rnd.uniform(0.6, 1.0)))
        else:
            out[item.name] = rows
    return out


def _local(day: dt.date, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), TIMEZONE)


def _run_rows(resource: Resource, seed, start: dt.date, end: dt.date, last_day: dt.date | None,
              never: str | None = None):
    """The runs of one resource: (load_run VALUES tuple, newest_source_update, late, rng for scores).
    ``last_day``: the last data day delivered (a zombie); ``never``: an item it never delivers."""
    cycle_seconds = sync_metrics.CYCLE_SECONDS[resource.update_cycle]
    size = 200 + _rng(seed, resource.code, "size").randrange(5000)
    for day, run_day in scheduled_days(resource.update_cycle, start, end):
        if last_day is not None and day > last_day:
            break
        rnd = _rng(seed, resource.code, day.isoformat())
        interval_start, interval_end = _local(day), _local(run_day)
        finished = interval_end + dt.timedelta(minutes=5 + rnd.randrange(51))
        started = finished - dt.timedelta(seconds=20 + rnd.randrange(600))
        extracted = max(1, int(size * (0.02 + 0.1 * rnd.random())))
        quarantined = rnd.randrange(max(1, extracted // 50) + 1) if rnd.random() < 0.5 else 0
        if quarantined >= extracted:
            quarantined = 0
        available = extracted - quarantined                 # >= 1: every run brings new data
        inserted = max(1, int(available * rnd.uniform(0.1, 0.5)))
        updated = rnd.randrange(available - inserted + 1)
        unchanged = available - inserted - updated
        late = cycle_seconds is not None and rnd.random() < 0.125
        if cycle_seconds is None:
            newest = interval_end - dt.timedelta(hours=1 + rnd.randrange(48))
        elif late:
            newest = interval_end - dt.timedelta(seconds=cycle_seconds, days=1 + rnd.randrange(3))
        else:
            newest = interval_end - dt.timedelta(seconds=int(cycle_seconds * rnd.uniform(0.01, 0.6)))
        mode = "full" if resource.update_cycle in (UpdateCycle.yearly, UpdateCycle.quarterly) else "incremental"
        values = (resource.code, resource.dag_id, f"{RUN_PREFIX}{day.isoformat()}", interval_start, interval_start,
                  interval_end, mode, "success", started, finished, extracted, inserted, updated, unchanged,
                  quarantined, 0, 0, 0, 0, 0,
                  Json(_items_delivered(resource, seed, day, extracted, never)))
        yield values, newest, late, rnd


def _score_rows(load_id: int, resource: Resource, values: tuple, late: bool, rnd: random.Random, config: dict):
    extracted, quarantined = values[10], values[14]
    scores: dict[str, float | None] = {}
    rows = []
    for dimension in ROW_DIMENSIONS:
        checks = 1 + rnd.randrange(4)
        elements = extracted * checks
        failed = quarantined if dimension == "complete" else (rnd.randrange(max(1, extracted // 100) + 1)
                                                                if rnd.random() < 0.3 else 0)
        failed = min(failed, elements)
        score = round(1 - failed / elements, 6)
        scores[dimension] = score
        rows.append((dimension, checks, elements, failed, score))
    if resource.update_cycle is UpdateCycle.other:
        rows.append(("timely", 0, 0, 0, None))
        scores["timely"] = None
    else:
        rows.append(("timely", 1, 1, 1 if late else 0, 0.0 if late else 1.0))
        scores["timely"] = 0.0 if late else 1.0
    rows.append(("accessible", 1, 1, 0, 1.0))
    scores["accessible"] = 1.0
    total = scoring.overall(scores, config)
    rows.append(("overall", 0, 0, 0, total))
    finished = values[9]
    return [(load_id, resource.code, resource.provider.code, d, c, e, f, s, scoring.grade(s, config), finished)
            for d, c, e, f, s in rows]


def _consumer_codes(cur) -> tuple[list[str], set[str]]:
    """(every consumer code: declared in the consumers file, then those in sharing.consumer; the latter)."""
    from baselib.errors import SharingError
    from baselib.sharing import consumers

    try:
        declared = [c.code for c in consumers.load()]
    except SharingError:
        declared = []
    cur.execute("SELECT consumer_code FROM sharing.consumer ORDER BY consumer_code")
    stored = [code for (code,) in cur.fetchall()]
    return list(dict.fromkeys(declared + stored)), set(stored)


def _working_days(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    day = start
    while day < end:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def simulate(conn, start: dt.date, end: dt.date, *, seed, catalog: list[Resource] | None = None,
             zombies: dict[str, dt.date] | None = None, unused: set[str] | None = None,
             now: dt.datetime | None = None) -> dict:
    """Write history for ``[start, end)`` (local dates) as it happened by ``now`` (aware; default the
    current time): nothing after ``now`` is written; see the module docstring for what and how.
    Raises ValueError for an empty range, a start after today, a range longer than :data:`MAX_DAYS`
    days, or unknown resource codes in ``zombies``/``unused``."""
    if not start < end:
        raise ValueError(f"simulate: start {start} must be before end {end}")
    now = now or dt.datetime.now(TIMEZONE)
    if now.tzinfo is None:
        raise ValueError(f"simulate: now must be timezone-aware, got {now!r}")
    today = now.astimezone(TIMEZONE).date()
    if start > today:
        raise ValueError(f"simulate: start {start} is after today {today}: history cannot be in the future")
    if (end - start).days > MAX_DAYS:
        raise ValueError(f"simulate: the range {start} .. {end} is longer than {MAX_DAYS} days")
    catalog = list(catalog if catalog is not None else load_catalog())
    zombies, unused = dict(zombies or {}), set(unused or ())
    codes = {r.code for r in catalog}
    unknown = (set(zombies) | unused) - codes
    if unknown:
        raise ValueError(f"simulate: not catalog resources: {sorted(unknown)}")
    schema.ensure(conn, [])       # the shared DDL (commits)
    config = scoring.load_config()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for resource in catalog:
            publish(conn, resource)
        range_start, range_end = _local(start), _local(end)

        # runs, then their metrics (the engine's rule) and scores
        planned, load_values = {}, []
        never = undelivered_item(catalog)
        for resource in catalog:
            never_item = never[1] if never and never[0] == resource.code else None
            for values, newest, late, rnd in _run_rows(resource, seed, start, end, zombies.get(resource.code),
                                                       never_item):
                if values[9] > now:   # finished_at: not happened yet
                    continue
                planned[(resource.code, values[2])] = (resource, values, newest, late, rnd)
                load_values.append(values)
        returned = execute_values(cur, sqlfiles.text("queries/evaluation_ind_sim_load_run"), load_values,
                                  page_size=500, fetch=True) if load_values else []
        keep = [load_id for load_id, _, _ in returned]
        cur.execute(sqlfiles.text("queries/evaluation_ind_sim_stale_runs"),
                    {"resource_codes": sorted(codes), "range_start": range_start, "range_end": range_end,
                     "keep": keep})
        stale = [load_id for (load_id,) in cur.fetchall()]
        if stale:
            cur.execute(sqlfiles.text("queries/evaluation_ind_sim_delete_runs"), {"load_ids": stale})
        score_rows, late_runs = [], 0
        for load_id, code, run_id in returned:
            resource, values, newest, late, rnd = planned[(code, run_id)]
            sync_metrics.record(conn, load_id, resource.update_cycle, newest)
            score_rows.extend(_score_rows(load_id, resource, values, late, rnd, config))
            late_runs += late
        if score_rows:
            execute_values(cur, sqlfiles.text("queries/evaluation_ind_sim_quality_score"), score_rows, page_size=1000)

        # measured use
        consumer_codes, stored_consumers = _consumer_codes(cur)
        shareable = [r for r in catalog if r.sharing.type is not SharingType.not_shared and r.code not in unused]
        usage_rows = []
        if consumer_codes:
            days = list(_working_days(start, min(end, today)))   # today's use is not collected yet
            for resource in shareable:
                rnd = _rng(seed, resource.code, "consumers")
                users = rnd.sample(consumer_codes, min(len(consumer_codes), 1 + rnd.randrange(3)))
                for consumer in sorted(users):
                    for day in days:
                        r = _rng(seed, resource.code, consumer, day.isoformat())
                        queries = 1 + r.randrange(40)
                        at = _local(day, 23, 50)
                        usage_rows.append((day, consumer, resource.code, resource.provider.code, queries,
                                           queries * (1 + r.randrange(200)), at, at))
        if usage_rows:
            execute_values(cur, sqlfiles.text("queries/evaluation_ind_sim_usage"), usage_rows, page_size=1000)

        # past applications, decided and over
        applications = _applications(cur, seed, start, end, shareable,
                                     [c for c in consumer_codes if c in stored_consumers], today)
    conn.commit()
    return {"runs": len(returned), "late_runs": late_runs, "removed_runs": len(stale),
            "quality_scores": len(score_rows), "usage_rows": len(usage_rows), "applications": applications,
            "resources": sorted(codes), "consumers": consumer_codes}


def _applications(cur, seed, start: dt.date, end: dt.date, shareable: list[Resource], consumers: list[str],
                  today: dt.date) -> int:
    from baselib.sharing import policy

    pol = policy.load()
    calendar = pol.calendar
    cur.execute(sqlfiles.text("queries/evaluation_ind_sim_delete_applications"),
                {"range_start": _local(start), "range_end": _local(end)})
    if not shareable or not consumers:
        return 0
    limit_day = min(end, today)
    written = 0
    quarter = dt.date(start.year, 3 * ((start.month - 1) // 3) + 1, 1)
    while quarter < end:
        for consumer in consumers:
            rnd = _rng(seed, consumer, "application", quarter.isoformat())
            day = quarter + dt.timedelta(days=rnd.randrange(20))
            while not calendar.is_working_day(day):
                day += dt.timedelta(days=1)
            if day < start:
                continue
            resource = rnd.choice(shareable)
            submitted = _local(day, 9 + rnd.randrange(8), rnd.randrange(60))
            limit = (pol.limits.unconditional_review if resource.sharing.type is SharingType.unconditional
                     else pol.limits.conditional_answer)
            due = calendar.add_working_days(submitted, limit)
            late = rnd.random() < 0.25
            answer_days = limit + 1 + rnd.randrange(3) if late else rnd.randrange(limit)
            decided = calendar.add_working_days(submitted, answer_days) - dt.timedelta(hours=2 + rnd.randrange(6)) \
                if answer_days else submitted + dt.timedelta(hours=1 + rnd.randrange(4))
            refused = rnd.random() < 0.2
            period_start = calendar.local_date(decided) + dt.timedelta(days=1)
            period_end = period_start + dt.timedelta(days=29)
            if period_end >= limit_day - dt.timedelta(days=1) or decided >= _local(limit_day):
                continue
            cur.execute(sqlfiles.text("queries/evaluation_ind_sim_application"), {
                "consumer_code": consumer, "resource_code": resource.code, "provider_code": resource.provider.code,
                "sharing_type": resource.sharing.type.value, "items": [i.name for i in resource.items if not i.personal],
                "purpose": f"模拟历史 {RUN_PREFIX}{seed}", "legal_basis": "模拟数据（history simulator）",
                "period_start": period_start, "period_end": period_end,
                "status": "refused" if refused else "expired", "submitted_at": submitted,
                "response_limit_days": limit, "due_at": due, "decided_at": decided,
                "decision_reason": "模拟：用途与共享条件不符" if refused else None,
                "response_working_days": calendar.working_days_between(submitted, decided)})
            written += 1
        quarter = _months_from(quarter, 3)
    return written

