"""GB/T 36344-2018 dimension scores and grades, per run and per provider per period.

Rules and numbers: include/quality/scoring.yaml (``BASELIB_QUALITY_SCORING_FILE`` overrides the
path); its comments and the README ("For quality officers") say how each dimension is scored.

Shapes:
* a dimension score is a pass rate in ``[0, 1]`` (``None``: nothing judged), rounded to 6 places;
* :func:`grade` maps a score to the first grade of ``grades`` whose ``min`` it reaches;
* ``evaluation.quality_score`` holds one row per load and dimension plus ``overall``
  (``checks, elements, failed, score, grade``), written by :func:`score_load`.

Sources of a run's elements (:func:`score_load`): the checks of every dimension from the load's
``validation_result.json`` (``meta.dimensions``, next to ``ops.load_run.report_path``; a blocked run
has one too); timely also from ``evaluation.sync_metrics.within_update_cycle``; accessible also from
the run (failed in extract) and its delivered files (``ops.load_run.files_new/files_rejected``; the
unreadable ones are the deliveries ``ops.file_delivery`` holds rejected without a row read).
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
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: cannot read the scoring rules: {exc}") from exc
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: must be a mapping with keys weights and grades, not a {type(raw).__name__}")
    weights = raw.get("weights") or {}
    if not isinstance(weights, dict):
        raise CatalogError(f"{path}: weights must be a mapping dimension -> number, not {weights!r}")
    unknown = set(weights) - set(DIMENSIONS)
    if unknown:
        raise CatalogError(f"{path}: weights name unknown dimensions {sorted(map(str, unknown))}; "
                           f"known: {list(DIMENSIONS)}")
    for key, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise CatalogError(f"{path}: weights.{key} must be a number >= 0, not {weight!r}")
    if not any(w > 0 for w in weights.values()):
        raise CatalogError(f"{path}: weights: at least one weight must be > 0")
    grades = raw.get("grades") or []
    if not isinstance(grades, list) or not grades:
        raise CatalogError(f"{path}: grades must be a non-empty list of {{grade, min}}")
    for index, entry in enumerate(grades):
        if (not isinstance(entry, dict) or "grade" not in entry or isinstance(entry.get("min"), bool)
                or not isinstance(entry.get("min"), (int, float))):
            raise CatalogError(f"{path}: grades[{index}] must be a mapping {{grade, min}} with a numeric min, "
                               f"not {entry!r}")
    mins = [g["min"] for g in grades]
    if mins != sorted(mins, reverse=True) or mins[-1] > 0:
        raise CatalogError(f"{path}: grades must be ordered best first (min decreasing) and the last must have "
                           f"min 0, got mins {mins}")
    return {"weights": {d: float(weights.get(d, 0)) for d in DIMENSIONS}, "grades": grades}


def load_config(path: Path | None = None) -> dict:
    """``{"weights": {dimension: float}, "grades": [{"grade", "label"?, "min"}]}``. Raises
    CatalogError naming the file (and the key, e.g. ``weights.accurate`` or ``grades[1]``) for a
    missing, unreadable or malformed one."""
    path = Path(path or config_path())
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the scoring rules: {exc.strerror or exc}") from exc
    return _load(str(path), mtime)


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


def empty_scores(config: dict | None = None) -> dict[str, dict]:
    """:func:`provider_scores`' shape with nothing judged (a provider with no scored load)."""
    out = {d: {"score": None, "grade": None, "checks": 0, "elements": 0, "failed": 0, "loads": 0}
           for d in DIMENSIONS}
    out["overall"] = {"score": None, "grade": None}
    return out


def provider_scores(conn, provider_code: str, period, config: dict | None = None) -> dict[str, dict]:
    """A provider's scores over ``period`` (:class:`baselib.evaluation.periods.Period`):
    ``{dimension: {"score", "grade", "checks", "elements", "failed", "loads"}}`` for the six
    dimensions, plus ``"overall": {"score", "grade"}``. The loads that count
    (include/sql/queries/quality_provider_scores.sql): the latest full or reconcile load per
    resource and data day (a rerun or a backfill of the day replaces it), every incremental load,
    and the latest load to have judged each delivered file."""
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
    """Every dimension's checks of a load's validation result (report.validation_result):
    ``{dimension: {"checks", "elements", "failed"}}`` from ``meta.dimensions``, for the six
    dimensions (a suite may map a check to timely or accessible too; zeros when none)."""
    dims = (validation_result.get("meta") or {}).get("dimensions") or {}
    return {d: {k: int((dims.get(d) or {}).get(k) or 0) for k in ("checks", "elements", "failed")}
            for d in DIMENSIONS}


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
    (``extract_failed``, ``files_delivered``, ``files_unreadable``, ``within_update_cycle``).
    The checks the validation plan maps to a dimension count in it, timely and accessible
    included, on top of the run's own timeliness element and its accessibility elements (the
    source read, one per delivered file: only a file that could not be read is a failure; a
    readable file sent back for its rows is a failure of those rows' checks, not of access)."""
    out = check_elements(validation_result or {})
    within = facts.get("within_update_cycle")
    if within is not None:
        _add(out["timely"], 1, 1, 0 if within else 1)
    files = int(facts.get("files_delivered") or 0)
    unreadable = int(facts.get("files_unreadable") or 0)
    _add(out["accessible"], 1 + (1 if files else 0), 1 + files, (1 if facts.get("extract_failed") else 0) + unreadable)
    return out


def _add(row: dict, checks: int, elements: int, failed: int) -> None:
    row["checks"] += checks
    row["elements"] += elements
    row["failed"] += failed


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
