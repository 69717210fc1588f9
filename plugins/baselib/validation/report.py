"""One quality report per load: a GX-shaped validation result (JSON) and an offline HTML page.

Both go to ``REPORTS_DIR/<dag_id>/load-<load id>/``:

* ``validation_result.json``: the shape of a GX 1.x ``ExpectationSuiteValidationResult``::

    {"success": bool,
     "results": [{"expectation_config": {"type", "kwargs", "meta", "severity"},
                  "success": bool,
                  "result": {"element_count", "unexpected_count", "unexpected_percent",
                             "partial_unexpected_list"},
                  "exception_info": {"raised_exception": bool, "exception_message": str | None}}],
     "statistics": {"evaluated_expectations", "successful_expectations",
                    "unsuccessful_expectations", "success_percent"},
     "meta": {"expectation_suite_name", "run_id", "data_asset_name" (the resource's target),
              "provider": {"name", "code"}, "resource_code", "load_id", "mode", "rows": {...},
              "dimensions": {key: {"label", "checks", "elements", "failed", "pass_rate"}},
              "cross_checks", "blocking", "generated_at",
              "scores" (after scoring): {dimension | "overall": {"label", "checks", "elements", "failed",
                                                                 "score", "grade"}},
              "trend_href" (after scoring): the resource's trend page, relative to this page}}

  One entry per check of the plan that ran, the engine's table checks included (their ``type``
  is the engine check's name). ``kwargs`` keep ``{"$PARAMETER": …}`` references as the suite
  declares them. ``meta`` adds the check's ``dimension``, ``level`` and ``origin``.
  ``partial_unexpected_list``: up to 5 failing rows as ``{"key", "values"}``, where an item marked
  ``personal`` in the catalog is masked (first 3 and last 2 characters).
* ``index.html``: a self-contained page (inline CSS, no script, no external asset; Chinese with
  English labels) rendered from ``templates/report.html.j2``: the provider, the load's counts,
  one table of the six quality dimensions (GB/T 36344-2018) — once the load is scored
  (:func:`add_scores`) each dimension's score, grade, checks, elements judged (the run-level
  elements of timeliness and accessibility included and marked, with a note on what they are) and
  failures plus the overall score; before that, the same table with the pass rate of the row and
  table checks and no grade — each failed check with its count, share and samples (geometry as
  WKT, an empty value as ``（空）/ empty``), and a link to the resource's trend page.

Pass rate of a dimension: 1 − failed / elements over its checks, where a row check contributes
the rows it judged and those it found unexpected, and a table check one element (failed or not).
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from baselib import storage
from baselib.catalog.model import Resource
from baselib.validation.executor import CheckResult, Execution
from baselib.validation.plan import DIMENSIONS, Plan

TEMPLATE = "report.html.j2"
JSON_NAME = "validation_result.json"
HTML_NAME = "index.html"


def _entry(result: CheckResult) -> dict:
    check = result.check
    return {
        "expectation_config": {
            "type": check.type, "kwargs": check.kwargs, "severity": check.severity,
            "meta": {**check.meta, "reason": check.reason, "dimension": check.dimension, "level": check.level,
                     "origin": check.origin},
        },
        "success": result.success,
        "result": {
            "element_count": result.element_count, "unexpected_count": result.unexpected_count,
            "unexpected_percent": round(result.unexpected_percent, 6),
            "partial_unexpected_list": result.samples,
            **({"observed_value": result.observed} if result.observed is not None else {}),
        },
        "exception_info": {"raised_exception": bool(result.errors),
                           "exception_message": "; ".join(dict.fromkeys(result.errors)) or None},
    }


def dimensions(results: list[CheckResult]) -> dict[str, dict]:
    """Per GB/T 36344 dimension: ``{"label", "checks", "elements", "failed", "pass_rate"}`` (pass
    rate None when nothing was judged); every dimension is listed."""
    out = {key: {"label": f"{zh} / {en}", "checks": 0, "elements": 0, "failed": 0, "pass_rate": None}
           for key, (zh, en) in DIMENSIONS.items()}
    for result in results:
        row = out[result.check.dimension]
        row["checks"] += 1
        row["elements"] += result.element_count
        row["failed"] += result.unexpected_count
    for row in out.values():
        if row["elements"]:
            row["pass_rate"] = round(1 - row["failed"] / row["elements"], 6)
    return out


def validation_result(plan: Plan, execution: Execution, resource: Resource, *, load_id: int, run_id: str,
                      mode: str) -> dict:
    """The load's GX-shaped validation result (see the module docstring)."""
    ran = [r for r in execution.results if r.evaluated]
    entries = [_entry(r) for r in ran]
    passed = sum(e["success"] for e in entries)
    return {
        "success": passed == len(entries) and not execution.blocking,
        "results": entries,
        "statistics": {
            "evaluated_expectations": len(entries), "successful_expectations": passed,
            "unsuccessful_expectations": len(entries) - passed,
            "success_percent": round(100.0 * passed / len(entries), 6) if entries else None,
        },
        "meta": {
            "expectation_suite_name": plan.suite_name,
            "run_id": {"run_name": f"load-{load_id}", "airflow_run_id": run_id},
            "data_asset_name": resource.pipeline.target.qualified,
            "provider": {"name": resource.provider.name, "code": resource.provider.code},
            "resource_code": resource.code, "resource_name": resource.name, "load_id": load_id, "mode": mode,
            "rows": {"extracted": execution.rows_extracted, "checked": execution.rows_checked,
                     "skipped_unchanged": execution.rows_skipped_unchanged,
                     "quarantined": execution.rows_quarantined, "warned": execution.rows_warned},
            "dimensions": dimensions(ran),
            "cross_checks": execution.cross_checks,
            "blocking": [{"check": n, "message": m} for n, m in execution.blocking],
            "fallback_types": execution.fallback_types,
            "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }


def local_minute(value) -> str:
    """An ISO instant as local time (Asia/Shanghai) to the minute, ``YYYY-MM-DD HH:MM``; anything
    that is not an aware instant unchanged."""
    from zoneinfo import ZoneInfo

    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return str(value)
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["local_minute"] = local_minute
    return env


def render_html(result: dict) -> str:
    """The offline HTML page of a validation result (:func:`validation_result`)."""
    failed = [e for e in result["results"] if not e["success"] or e["result"]["unexpected_count"]]
    failed.sort(key=lambda e: (e["success"], e["expectation_config"]["severity"] != "critical",
                               -e["result"]["unexpected_count"]))
    return _environment().get_template(TEMPLATE).render(result=result, meta=result["meta"], failed=failed)


def add_scores(directory: Path, scores: dict[str, dict], trend_href: str = "../index.html") -> Path:
    """Put a load's dimension scores (:func:`baselib.quality.scoring.score_load`) into its
    ``validation_result.json`` (``meta.scores``, ``meta.trend_href``) and re-render ``index.html``
    from it. Raises FileNotFoundError when the load has no validation result. Returns the page."""
    directory = Path(directory)
    result = json.loads((directory / JSON_NAME).read_text(encoding="utf-8"))
    labels = {key: f"{zh} / {en}" for key, (zh, en) in DIMENSIONS.items()}
    labels["overall"] = "综合 / overall"
    result["meta"]["scores"] = {key: {"label": labels[key], **{k: row.get(k) for k in ("checks", "elements",
                                                                                      "failed", "score", "grade")}}
                                for key, row in scores.items() if key in labels}
    result["meta"]["trend_href"] = trend_href
    storage.replace_local(directory / JSON_NAME, json.dumps(result, ensure_ascii=False, indent=1, default=str))
    page = directory / HTML_NAME
    storage.replace_local(page, render_html(result))
    return page


def write(plan: Plan, execution: Execution, resource: Resource, directory: Path, *, load_id: int, run_id: str,
          mode: str) -> Path:
    """Write ``validation_result.json`` and ``index.html`` into ``directory`` (created if
    needed; a rerun of the step replaces them). Returns the HTML page's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    result = validation_result(plan, execution, resource, load_id=load_id, run_id=run_id, mode=mode)
    storage.replace_local(directory / JSON_NAME, json.dumps(result, ensure_ascii=False, indent=1, default=str))
    page = directory / HTML_NAME
    storage.replace_local(page, render_html(result))
    return page
