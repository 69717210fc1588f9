"""GB/T 36344-2018 dimension scores and grades, per run and per provider per period.

Rules and numbers: include/quality/scoring.yaml (``BASELIB_QUALITY_SCORING_FILE`` overrides the
path); its comments and the README ("For quality officers") say how each dimension is scored.

Shapes:
* a dimension score is a pass rate in ``[0, 1]`` (``None``: nothing judged), rounded to 6 places;
* :func:`grade` maps a score to the first grade of ``grades`` whose ``min`` it reaches;
* ``evaluation.quality_score`` holds one row per load and dimension plus ``overall``
  (``checks, elements, failed, score, grade``).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml

from baselib.errors import CatalogError
from baselib.settings import INCLUDE_DIR
from baselib.validation.plan import DIMENSIONS
from baselib.warehouse import sqlfiles

DEFAULT_FILE = INCLUDE_DIR / "quality" / "scoring.yaml"


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
