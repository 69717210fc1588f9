"""Quality scoring rules (include/quality/scoring.yaml) and the plan's dimension of every check."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from baselib.catalog import load_catalog
from baselib.errors import CatalogError
from baselib.quality import scoring
from baselib.validation import plan
from baselib.validation.plan import DIMENSIONS

GOOD = {"weights": {d: 1 for d in DIMENSIONS},
        "grades": [{"grade": "A", "min": 0.9}, {"grade": "B", "min": 0.5}, {"grade": "C", "min": 0.0}]}


def _write(tmp_path, data, name="scoring.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(("change", "message"), [
    ({"weights": {"speed": 1}}, "unknown dimensions ['speed']"),
    ({"weights": {"timely": -1}}, "weights.timely must be a number >= 0"),
    ({"weights": {"timely": "high"}}, "weights.timely must be a number >= 0"),
    ({"weights": {"accessible": True}}, "weights.accessible must be a number >= 0"),
    ({"weights": [1, 2]}, "weights must be a mapping"),
    ({"weights": {d: 0 for d in DIMENSIONS}}, "at least one weight must be > 0"),
    ({"grades": []}, "grades must be a non-empty list"),
    ({"grades": {"A": 0}}, "grades must be a non-empty list"),
    ({"grades": [{"grade": "A", "min": "high"}]}, "grades[0] must be a mapping {grade, min} with a numeric min"),
    ({"grades": [{"grade": "A", "min": 0.5}, {"grade": "B", "min": 0.9}, {"grade": "C", "min": 0}]},
     "ordered best first"),
    ({"grades": [{"grade": "A", "min": 0.9}, {"grade": "B", "min": 0.2}]}, "the last must have min 0"),
], ids=["unknown-dimension", "negative-weight", "text-weight", "bool-weight", "list-weights", "all-zero",
        "no-grades", "mapping-grades", "text-min", "unordered", "no-floor"])
def test_a_broken_config_is_refused_naming_the_file(tmp_path, change, message):
    path = _write(tmp_path, {**GOOD, **change})
    with pytest.raises(CatalogError) as raised:
        scoring.load_config(path)
    assert str(path) in str(raised.value) and message in str(raised.value)


def test_the_shipped_config_loads_and_grades_by_its_own_thresholds():
    config = scoring.load_config()
    grades = config["grades"]
    for n, entry in enumerate(grades):
        assert scoring.grade(entry["min"], config) == entry["grade"]
        if n + 1 < len(grades) and entry["min"] > 0:
            just_below = entry["min"] - 1e-9
            assert scoring.grade(just_below, config) == grades[n + 1]["grade"]
    assert scoring.grade(1.0, config) == grades[0]["grade"]
    assert scoring.grade(None, config) is None


def test_overall_renormalises_the_weights_over_the_judged_dimensions(tmp_path):
    weights = {"normative": 1, "complete": 2, "accurate": 3, "consistent": 0, "timely": 4, "accessible": 1}
    config = scoring.load_config(_write(tmp_path, {**GOOD, "weights": weights}))
    scores = {"normative": 0.9, "complete": 0.5, "accurate": None, "consistent": 0.1, "timely": 1.0,
              "accessible": None}
    judged = {d: s for d, s in scores.items() if s is not None and weights[d] > 0}
    expected = sum(weights[d] * s for d, s in judged.items()) / sum(weights[d] for d in judged)
    assert scoring.overall(scores, config) == pytest.approx(expected, abs=1e-6)
    assert scoring.overall({d: None for d in DIMENSIONS}, config) is None
    # a dimension weighted 0 never moves the overall score
    assert scoring.overall({**scores, "consistent": 0.0}, config) == scoring.overall(scores, config)


def test_run_elements_follow_the_rules_of_each_dimension():
    result = {"meta": {"dimensions": {"normative": {"checks": 3, "elements": 200, "failed": 7},
                                      "complete": {"checks": 2, "elements": 101, "failed": 1},
                                      "accurate": {"checks": 1, "elements": 1, "failed": 0},
                                      "consistent": {"checks": 0, "elements": 0, "failed": 0}}}}
    facts = {"extract_failed": False, "files_delivered": 3, "files_unreadable": 1, "within_update_cycle": False}
    counts = scoring.run_elements(facts, result)
    assert counts["normative"] == {"checks": 3, "elements": 200, "failed": 7}
    assert counts["timely"] == {"checks": 1, "elements": 1, "failed": 1}
    assert counts["accessible"] == {"checks": 2, "elements": 4, "failed": 1}
    scores = scoring.scores_of(counts)
    assert scores["normative"]["score"] == round(1 - 7 / 200, 6)
    assert scores["consistent"]["score"] is None and scores["consistent"]["grade"] is None
    # not judged for cycle 其他 (within_update_cycle NULL); a failed extract fails the run's element
    failed = scoring.run_elements({"extract_failed": True, "within_update_cycle": None}, None)
    assert failed["timely"]["elements"] == 0
    assert failed["accessible"] == {"checks": 1, "elements": 1, "failed": 1}
    assert scoring.scores_of(failed)["overall"]["score"] == 0.0


@given(st.integers(min_value=0, max_value=10**9), st.data())
def test_a_score_is_a_rate_in_0_1_and_falls_as_failures_rise(elements, data):
    failed = data.draw(st.integers(min_value=0, max_value=elements))
    value = scoring.score(elements, failed)
    if elements == 0:
        assert value is None
        return
    assert 0.0 <= value <= 1.0
    more = data.draw(st.integers(min_value=failed, max_value=elements))
    assert scoring.score(elements, more) <= value
    assert scoring.score(elements, 0) == 1.0 and scoring.score(elements, elements) == 0.0


@pytest.mark.parametrize(("elements", "failed"), [(-1, 0), (3, -1), (3, 4)])
def test_impossible_counts_are_refused(elements, failed):
    with pytest.raises(ValueError):
        scoring.score(elements, failed)


def test_every_check_of_every_catalog_entry_maps_to_one_of_the_six_dimensions():
    resources = load_catalog()
    assert resources
    origins = set()
    for resource in resources:
        compiled = plan.compile(resource)
        assert compiled.checks, resource.code
        for check in compiled.checks:
            origins.add(check.origin)
            assert check.dimension in DIMENSIONS, (resource.code, check.name, check.dimension)
            expected = check.meta.get("dimension") or (
                plan.ENGINE_CHECKS[check.type][0] if check.origin == "engine"
                else plan.default_dimension(check.type, check.kwargs, check.meta, check.origin))
            assert check.dimension == expected, (resource.code, check.name)
    # the catalog's derived checks and the engine's checks are among those mapped
    assert {"catalog", "engine"} <= origins
