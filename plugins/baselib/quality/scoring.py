"""GB/T 36344-2018 dimension scores and grades, per run and per provider per period.

Rules and numbers: include/quality/scoring.yaml (``BASELIB_QUALITY_SCORING_FILE`` overrides the
path); its comments and the README ("For quality officers") say how each dimension is scored.

Shapes:
* a dimension score is a pass rate in ``[0, 1]`` (``None``: nothing judged), rounded to 6 places;
* :func:`grade` maps a score to the first grade of ``grades`` whose ``min`` it reaches;
* ``evaluation.quality_score`` holds one row per load and dimension plus ``overall``
  (``checks, elements, failed, score, grade``), written by :func:`score_load`.

Sources of a run's elements (:func:`score_load`): the four check dimensions from the load's
``validation_result.json`` (``meta.dimensions``, next to ``ops.load_run.report_path``; a blocked run
has one too); timely from ``evaluation.sync_metrics.within_update_cycle``; accessible from the run
(failed in extract) and its delivered files (``ops.load_run.files_new/files_rejected``).
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import yaml

from baselib.errors import CatalogError
from baselib.settings import INCLUDE_DIR
from baselib.validation.plan import DIMENSIONS
from baselib.warehouse import sqlfiles

DEFAULT_FILE = INCLUDE_DIR / "quality" / "scoring.yaml"
CHECK_DIMENSIONS = ("normative", "complete", "accurate", "consistent")  # judged by the validation plan
OVERALL = "overall"
RESULT_JSON = "validation_result.json"


def config_path() -> Path:
    return Path(os.environ.get("BASELIB_QUALITY_SCORING_FILE") or DEFAULT_FILE)


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> dict:
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    weights = raw.get("weights") or {}
    unknown = set(weights) - set(DIMENSIONS)
    if unknown:
        raise CatalogError(f"{path}: weights name unknown dimensions {sorted(unknown)}; known: {list(DIMENSIONS)}")
    if any(not isinstance(w, (int, float)) or w < 0 for w in weights.values()):
        raise CatalogError(f"{path}: every weight must be a number >= 0")
    if not any(isinstance(w, (int, float)) and w > 0 for w in weights.values()):
        raise CatalogError(f"{path}: at least one weight must be > 0")
    grades = raw.get("grades") or []
    if not grades or any("grade" not in g or not isinstance(g.get("min"), (int, float)) for g in grades):
        raise CatalogError(f"{path}: grades must be a list of {{grade, min}} with numeric min")
    mins = [g["min"] for g in grades]
    if mins != sorted(mins, reverse=True) or mins[-1] > 0:
        raise CatalogError(f"{path}: grades must be ordered best first and the last must have min 0")
    return {"weights": {d: float(weights.get(d, 0)) for d in DIMENSIONS}, "grades": grades}


def load_config(path: Path | None = None) -> dict:
    """``{"weights": {dimension: float}, "grades": [{"grade", "label"?, "min"}]}``. Raises
    CatalogError naming the file for a broken one."""
    path = Path(path or config_path())
    return _load(str(path), path.stat().st_mtime)


def grade(score: float | None, config: dict | None = None) -> str | None:
    """The grade of a 0..1 score (None for None)."""
    if score is None:
        return None
    for entry in (config or load_config())["grades"]:
        if score >= entry["min"]:
            return entry["grade"]
    return None


def overall(scores: dict[str, float | None], config: dict | None = None) -> float | None:
    """Weighted mean of the judged dimensions (weights renormalised over those with a score)."""
    weights = (config or load_config())["weights"]
    judged = {d: s for d, s in scores.items() if s is not None and d in weights and weights[d] > 0}
    total = sum(weights[d] for d in judged)
    if not total:
        return None
    return round(sum(weights[d] * s for d, s in judged.items()) / total, 6)


def provider_scores(conn, provider_code: str, period, config: dict | None = None) -> dict[str, dict]:
    """A provider's scores over ``period`` (:class:`baselib.evaluation.periods.Period`):
    ``{dimension: {"score", "grade", "checks", "elements", "failed", "loads"}}`` for the six
    dimensions, plus ``"overall": {"score", "grade"}``. Latest load per resource and data day
    (include/sql/queries/quality_provider_scores.sql)."""
    config = config or load_config()
    start, end = period.bounds
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/quality_provider_scores"),
                    {"provider_code": provider_code, "period_start": start, "period_end": end})
        rows = {r[0]: r[1:] for r in cur.fetchall()}
    out: dict[str, dict] = {}
    for dimension in DIMENSIONS:
        checks, elements, failed, loads = rows.get(dimension, (0, 0, 0, 0))
        score = round(1 - failed / elements, 6) if elements else None
        out[dimension] = {"score": score, "grade": grade(score, config), "checks": checks, "elements": elements,
                          "failed": failed, "loads": loads}
    total = overall({d: v["score"] for d, v in out.items()}, config)
    out["overall"] = {"score": total, "grade": grade(total, config)}
    return out


def score(elements: int, failed: int) -> float | None:
    """``1 − failed / elements`` rounded to 6 places (None when ``elements`` is 0). Raises
    ValueError for negative counts or ``failed > elements``."""
    if elements < 0 or failed < 0 or failed > elements:
        raise ValueError(f"need 0 <= failed <= elements, got failed={failed}, elements={elements}")
    return round(1 - failed / elements, 6) if elements else None


def check_elements(validation_result: dict) -> dict[str, dict]:
    """The four check dimensions of a load's validation result (report.validation_result):
    ``{dimension: {"checks", "elements", "failed"}}`` from ``meta.dimensions``."""
    dims = (validation_result.get("meta") or {}).get("dimensions") or {}
    return {d: {k: int((dims.get(d) or {}).get(k) or 0) for k in ("checks", "elements", "failed")}
            for d in CHECK_DIMENSIONS}


def read_validation_result(report_path: str | None) -> dict | None:
    """The ``validation_result.json`` next to a load's report page, or None (no report: the run
    never got through validation)."""
    if not report_path:
        return None
    path = Path(report_path).with_name(RESULT_JSON)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def run_elements(facts: dict, validation_result: dict | None) -> dict[str, dict]:
    """Every dimension's ``{"checks", "elements", "failed"}`` for one run (pure; the rules of
    include/quality/scoring.yaml). ``facts``: a row of queries/quality_score_load
    (``extract_failed``, ``files_delivered``, ``files_rejected``, ``within_update_cycle``)."""
    out = check_elements(validation_result or {})
    within = facts.get("within_update_cycle")
    out["timely"] = ({"checks": 0, "elements": 0, "failed": 0} if within is None
                     else {"checks": 1, "elements": 1, "failed": 0 if within else 1})
    files, rejected = int(facts.get("files_delivered") or 0), int(facts.get("files_rejected") or 0)
    out["accessible"] = {"checks": 1 + (1 if files else 0), "elements": 1 + files,
                         "failed": (1 if facts.get("extract_failed") else 0) + rejected}
    return out


def scores_of(elements: dict[str, dict], config: dict | None = None) -> dict[str, dict]:
    """``{dimension: {"checks", "elements", "failed", "score", "grade"}}`` plus ``"overall":
    {"score", "grade", ...}`` from :func:`run_elements`' counts."""
    config = config or load_config()
    out = {}
    for dimension in DIMENSIONS:
        row = elements.get(dimension) or {"checks": 0, "elements": 0, "failed": 0}
        value = score(row["elements"], row["failed"])
        out[dimension] = {**row, "score": value, "grade": grade(value, config)}
    total = overall({d: out[d]["score"] for d in DIMENSIONS}, config)
    out[OVERALL] = {"checks": sum(out[d]["checks"] for d in DIMENSIONS),
                    "elements": sum(out[d]["elements"] for d in DIMENSIONS),
                    "failed": sum(out[d]["failed"] for d in DIMENSIONS), "score": total, "grade": grade(total, config)}
    return out


def score_load(conn, load_id: int, resource, config: dict | None = None) -> dict[str, dict]:
    """Score one load and upsert its rows of ``evaluation.quality_score`` (six dimensions plus
    ``overall``) inside ``conn``'s transaction, single-flight per load (advisory lock); scoring
    again replaces them. Returns :func:`scores_of`'s dict. Raises LookupError for an unknown load."""
    config = config or load_config()
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/quality_score_lock"), {"load_id": load_id})
        cur.execute(sqlfiles.text("queries/quality_score_load"), {"load_id": load_id})
        names = [d.name for d in cur.description]
        row = cur.fetchone()
        if row is None:
            raise LookupError(f"no ops.load_run row with load_id {load_id}")
        facts = dict(zip(names, row))
        scores = scores_of(run_elements(facts, read_validation_result(facts["report_path"])), config)
        for dimension, values in scores.items():
            cur.execute(sqlfiles.text("queries/quality_score_upsert"),
                        {"load_id": load_id, "resource_code": resource.code, "provider_code": resource.provider.code,
                         "dimension": dimension, **{k: values[k] for k in ("checks", "elements", "failed", "score",
                                                                            "grade")}})
    return scores
