"""The validation plan compiled from the catalog and the suites, and the executor's judgement of
a part from its checks' evaluations (no database, no GX)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from baselib.catalog import load_catalog
from baselib.errors import CatalogError
from baselib.settings import EXPECTATIONS_DIR, PROJECT_ROOT
from baselib.validation import plan
from baselib.validation.executor import Evaluation, Judge, mask_value
from baselib.validation.suites import KEY_COLUMN


def entry(target: str):
    return next(r for r in load_catalog() if r.pipeline.target.qualified == target)


@pytest.fixture(scope="module")
def population():
    return entry("base_population.person")


@pytest.fixture(scope="module")
def population_plan(population):
    return plan.compile(population)


def one(p: plan.Plan, type_: str, **kwargs) -> plan.Check:
    [check] = [c for c in p.checks if c.type == type_ and all(c.kwargs.get(k) == v for k, v in kwargs.items())]
    return check


def test_every_check_has_severity_dimension_level_origin_and_reason():
    for resource in load_catalog():
        p = plan.compile(resource)
        assert [c.index for c in p.checks] == list(range(len(p.checks)))
        for check in p.checks:
            assert check.severity in plan.SEVERITIES and check.dimension in plan.DIMENSIONS
            assert check.level in plan.LEVELS and check.origin in plan.ORIGINS
            assert check.reason and not check.reason.startswith("failed ")


def test_the_plan_holds_the_catalog_the_suite_and_the_engine_checks(population, population_plan):
    suite = json.loads((EXPECTATIONS_DIR / "base_population.person.json").read_text(encoding="utf-8"))
    origins = [c.origin for c in population_plan.checks]
    assert origins.count("suite") == len(suite["expectations"])
    assert origins.count("catalog") >= len(population.items)
    assert [c.type for c in population_plan.checks if c.origin == "engine"] == [
        "empty_extract", "row_count_collapse", "max_deleted_share", "quarantine_threshold"]
    assert len(population_plan.expectations) == len(population_plan.checks) - 4
    threshold = population_plan.engine("quarantine_threshold")
    assert threshold.level == "table" and threshold.kwargs == {"threshold": population.pipeline.quarantine_threshold}
    # a file drop judges each delivery instead, and has no run-wide row-count checks
    places = plan.compile(entry("base_spatial.place_name"))
    assert [c.type for c in places.checks if c.origin == "engine"] == ["delivery_quality_threshold"]


def test_default_dimensions_and_levels(population_plan):
    p = population_plan
    assert one(p, "expect_column_to_exist", column="id_number").dimension == "complete"
    assert one(p, "expect_column_to_exist", column="id_number").level == "table"
    assert one(p, "expect_column_values_to_not_be_null", column="id_number").dimension == "complete"
    assert one(p, "expect_column_value_lengths_to_be_between", column="name", min_value=1).dimension == "complete"
    assert one(p, "expect_column_value_lengths_to_be_between", column="name", max_value=50).dimension == "normative"
    citizen = one(p, "expect_column_values_to_be_valid_citizen_id")
    assert (citizen.dimension, citizen.level, citizen.origin, citizen.severity) == ("normative", "row", "suite", "critical")
    assert one(p, "expect_column_pair_values_citizen_id_to_match_birth_date").dimension == "consistent"
    assert one(p, "expect_column_values_to_not_be_in_the_future").dimension == "accurate"
    duplicate = one(p, "expect_column_values_to_not_be_in_set", column=KEY_COLUMN)
    assert (duplicate.dimension, duplicate.origin) == ("accurate", "catalog")
    certificates = plan.compile(entry("base_e_certificate.certificate"))
    cross = [c for c in certificates.checks if c.origin == "cross_check"]
    assert cross and all(c.dimension == "consistent" and c.severity == "warning" for c in cross)
    values = plan.compile(entry("base_macro_economy.indicator_value"))
    kinds = {c.meta["kind"]: c.dimension for c in values.checks if c.origin == "context_check"}
    assert kinds["year_over_year"] == "accurate" and kinds["province_total"] == "consistent"


def _suite_copy(tmp_path, edit) -> object:
    shutil.copy(EXPECTATIONS_DIR / "base_population.person.json", tmp_path / "base_population.person.json")
    path = tmp_path / "base_population.person.json"
    spec = json.loads(path.read_text(encoding="utf-8"))
    edit(spec["expectations"])
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return path


def test_meta_dimension_overrides_the_default(population, tmp_path):
    def timely_future_dates(expectations):
        for exp in expectations:
            if exp["type"] == "expect_column_values_to_not_be_in_the_future":
                exp["meta"]["dimension"] = "timely"

    _suite_copy(tmp_path, timely_future_dates)
    p = plan.compile(population, tmp_path)
    assert one(p, "expect_column_values_to_not_be_in_the_future").dimension == "timely"
    assert one(p, "expect_column_values_to_be_valid_citizen_id").dimension == "normative"


def test_an_unknown_dimension_is_a_catalog_error_naming_the_file(population, tmp_path):
    path = _suite_copy(tmp_path, lambda exps: exps[0]["meta"].update(dimension="correctness"))
    with pytest.raises(CatalogError) as raised:
        plan.compile(population, tmp_path)
    assert str(path) in str(raised.value) and "'correctness'" in str(raised.value)


def test_compiling_imports_neither_gx_nor_pandas_nor_pyarrow():
    code = ("import sys\nfrom baselib.catalog import load_catalog\nfrom baselib.validation import plan\n"
            "n = sum(len(plan.compile(r).checks) for r in load_catalog())\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'great_expectations', 'pandas', 'pyarrow'})\n"
            "print(n, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(PROJECT_ROOT / "plugins"), "PATH": "/usr/bin:/bin"})
    count, heavy = out.stdout.split(" ", 1)
    assert int(count) > 100 and heavy.strip() == "[]"


# --- the judgement of a part ------------------------------------------------------------------------
def _frame(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"_source_row": np.arange(len(ids), dtype=np.int64), "id_number": ids,
                         "name": ["张三"] * len(ids), "_conversion_error": [None] * len(ids),
                         KEY_COLUMN: [str(i) for i in range(len(ids))]})


def _mask(n: int, *rows: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[list(rows)] = True
    return mask


def test_judge_quarantines_explains_warns_and_blocks(population, population_plan):
    p = population_plan
    frame = _frame(["11010519491231002X", "11010519491231002Y", "1101051949123100211", "110105194912310029"])
    citizen = one(p, "expect_column_values_to_be_valid_citizen_id")
    longer = one(p, "expect_column_value_lengths_to_be_between", column="id_number", max_value=18)
    exists = one(p, "expect_column_to_exist", column="name")
    future = one(p, "expect_column_values_to_not_be_in_the_future")
    evaluations = {
        citizen.index: Evaluation(_mask(4, 1, 2), False, 4),
        longer.index: Evaluation(_mask(4, 2), False, 4),
        exists.index: Evaluation(None, False, 1),
        future.index: Evaluation(None, False, 4, error="TypeError: boom"),
    }
    warning = plan.Check(index=999, name="warn(name)", type="expect_column_values_to_be_in_set",
                         kwargs={"column": "name"}, severity="warning", dimension="normative", level="row",
                         origin="suite", reason="a warning")
    evaluations[999] = Evaluation(_mask(4, 0, 1), False, 4)
    outcome = Judge(population).judge([*p.expectations, warning], frame, evaluations)

    assert outcome.rejected_mask.tolist() == [False, True, True, False]
    assert outcome.valid["_source_row"].tolist() == [0, 3] and KEY_COLUMN not in outcome.valid.columns
    reasons = dict(zip(outcome.rejected["_source_row"], outcome.rejected["reason"]))
    # the diagnosis names the cause; the length check on the same row gets that same one reason
    assert "公民身份号码(id_number)" in reasons[1] and "；" not in reasons[1]
    assert "公民身份号码(id_number)" in reasons[2] and "；" not in reasons[2]
    failed = json.loads(outcome.rejected.set_index("_source_row").loc[2, "failed_expectations"])
    assert {f["expectation"] for f in failed} == {citizen.type, longer.type}
    assert len({f["reason"] for f in failed}) == 1
    assert outcome.warned_rows == 1  # row 1 is quarantined, so only row 0 counts as warned
    assert outcome.warnings == ["warn(name): 2 rows — a warning"]
    assert outcome.blocking == [(exists.name, exists.reason), (future.name, "TypeError: boom")]


def test_judge_honours_mostly_a_passing_check_quarantines_nothing(population, population_plan):
    citizen = one(population_plan, "expect_column_values_to_be_valid_citizen_id")
    frame = _frame(["11010519491231002Y", "110105194912310029"])
    outcome = Judge(population).judge([citizen], frame, {citizen.index: Evaluation(_mask(2, 0), True, 2)})
    assert not outcome.rejected_mask.any() and len(outcome.valid) == 2 and not outcome.blocking


def test_personal_values_are_masked():
    assert mask_value("110105194912310029") == "110*************29"
    assert mask_value("123456") == "******" and mask_value(None) is None


def _check(type_: str, origin: str = "suite", **kwargs) -> plan.Check:
    return plan.Check(index=0, name=plan.describe(type_, kwargs), type=type_, kwargs=kwargs, severity="critical",
                      dimension="normative", level=plan.level_of(type_), origin=origin, reason="r")


@pytest.mark.parametrize("check, needs", [
    (_check("expect_column_values_to_match_regex", column="name", regex="."), False),
    (_check("expect_column_values_to_match_regex", column="name", regex=".", mostly=0.95), True),
    (_check("expect_column_values_to_match_regex", column="name", regex=".", mostly=1.0), False),
    (_check("expect_column_pair_values_to_be_equal", column_A="a", column_B="b", mostly=0.9), True),
    (_check("expect_column_values_to_be_unique", column="id_number"), False),      # the key: duplicates are never skipped
    (_check("expect_column_values_to_be_unique", column="address"), True),
    (_check("expect_compound_columns_to_be_unique", column_list=["name", "birth_date"]), True),
    (_check("expect_table_row_count_to_be_between", min_value=1), True),
    (_check("expect_column_mean_to_be_between", column="x", min_value=0), True),
    (_check("expect_column_to_exist", column="name"), False),
    (_check("expect_table_columns_to_match_set", column_set=["name"]), False),
    (_check("quarantine_threshold", origin="engine"), False),
])
def test_which_checks_need_every_row(check, needs):
    assert plan.needs_every_row(check, ["id_number"]) is needs


def test_the_shipped_population_plan_lets_changed_rows_only_run(population, population_plan):
    assert population_plan.needs_every_row(population.pipeline.key_columns) == []
