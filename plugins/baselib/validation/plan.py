"""A resource's validation plan: every check of a run, in one list, compiled from the catalog entry
and the suite.

One :class:`Check` per expectation of :func:`baselib.validation.suites.full_spec` (the checks the
catalog implies, the cross-library checks, the context checks, then the suite file's own), followed
by the engine's table checks (:data:`ENGINE_CHECKS`: an empty or collapsed full extract, a
reconcile that would delete too much, the quarantine threshold per run, or per delivery for file
drops). Each check carries:

* ``severity``: ``critical`` (a failing row is quarantined; a failing table check blocks the load)
  or ``warning`` (counted and reported, never blocking);
* ``dimension``: its data-quality dimension of GB/T 36344-2018 (:data:`DIMENSIONS`). The default
  comes from :func:`default_dimension` (the one place that maps expectation types and origins to
  dimensions); an expectation overrides it with ``meta.dimension``;
* ``level``: ``row`` (judges each row: map expectations, context and cross checks) or ``table``
  (judges the extract as a whole: column presence, aggregates, the engine's checks);
* ``origin``: ``catalog``, ``suite``, ``cross_check``, ``context_check`` or ``engine``;
* ``reason``: the readable sentence (Chinese / English) quality officers send back.

Compiling imports neither GX nor pandas nor pyarrow: catalog loading
(:func:`baselib.catalog.loader.load_entry`) compiles every entry's plan, so a suite that names an
unknown dimension or severity is refused there (the entry becomes its own placeholder DAG) instead
of failing a run. :func:`needs_every_row` says which checks forbid checking changed rows only. The executor
(:mod:`baselib.validation.executor`) runs the plan; the report (:mod:`baselib.validation.report`)
presents its results.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from baselib.catalog.model import Resource
from baselib.errors import CatalogError
from baselib.settings import EXPECTATIONS_DIR
from baselib.validation.suites import full_spec, suite_path

SEVERITIES = ("critical", "warning")
LEVELS = ("row", "table")
ORIGINS = ("catalog", "suite", "cross_check", "context_check", "engine")

# GB/T 36344-2018 信息技术 数据质量评价指标: the six dimensions, {key: (Chinese, English)}.
DIMENSIONS: dict[str, tuple[str, str]] = {
    "normative": ("规范性", "normative"),        # conforms to standards, models, rules, code lists
    "complete": ("完整性", "complete"),          # every element and record present
    "accurate": ("准确性", "accurate"),          # true to reality: plausible values, unique records
    "consistent": ("一致性", "consistent"),      # agrees with related data (other items, libraries)
    "timely": ("时效性", "timely"),              # current, on time
    "accessible": ("可访问性", "accessible"),    # can be reached and read
}

# The default dimension of an expectation type (GB/T 36344-2018 5.2). Types not listed: normative.
TYPE_DIMENSIONS: dict[str, str] = {
    # completeness: a column, a value or a record is missing
    "expect_column_to_exist": "complete",
    "expect_column_values_to_not_be_null": "complete",
    "expect_table_row_count_to_be_between": "complete",
    "expect_table_row_count_to_equal": "complete",
    "expect_table_columns_to_match_set": "complete",
    "expect_table_columns_to_match_ordered_list": "complete",
    # accuracy: implausible values, duplicate records (uniqueness is part of 准确性)
    "expect_column_values_to_not_be_in_the_future": "accurate",
    "expect_column_values_to_be_between": "accurate",
    "expect_column_values_to_be_number_between": "accurate",
    "expect_column_values_to_not_be_in_set": "accurate",
    "expect_column_values_to_be_unique": "accurate",
    "expect_compound_columns_to_be_unique": "accurate",
    "expect_column_values_geometry_to_be_within_bbox": "accurate",
    "expect_column_values_geometry_axes_not_swapped": "accurate",
    # consistency: one value agrees with another of the same row
    "expect_column_pair_values_citizen_id_to_match_birth_date": "consistent",
    "expect_column_pair_values_citizen_id_to_match_sex": "consistent",
    "expect_column_pair_values_division_name_to_match_code": "consistent",
    "expect_column_pair_values_identifier_to_be_valid_for_type": "consistent",
    "expect_column_pair_values_a_to_be_greater_than_b": "consistent",
    "expect_column_pair_values_to_be_equal": "consistent",
    "expect_multicolumn_dates_to_be_in_order": "consistent",
}
# Where the origin decides (checks against other tables or the whole extract).
ORIGIN_DIMENSIONS: dict[str, str] = {"cross_check": "consistent"}
CONTEXT_KIND_DIMENSIONS: dict[str, str] = {
    "reference_match": "consistent", "point_in_polygon": "consistent",
    "year_over_year": "accurate", "province_total": "consistent",
}
# A catalog check that the minimum length is 1 is "the value is missing"; any other length check
# is about the form of the value.
_MISSING_LENGTH = ("expect_column_value_lengths_to_be_between", "min_value")

# Row-level expectation types: map expectations, which judge each row. Anything else is table level.
ROW_PREFIXES = ("expect_column_values_", "expect_column_value_", "expect_column_pair_values_",
                "expect_multicolumn_", "expect_compound_columns_", "expect_select_column_values_")


def default_dimension(type_: str, kwargs: dict, meta: dict, origin: str) -> str:
    """The dimension of a check that does not name one (``meta.dimension``)."""
    if origin == "context_check":
        return CONTEXT_KIND_DIMENSIONS.get(meta.get("kind"), "consistent")
    if origin in ORIGIN_DIMENSIONS:
        return ORIGIN_DIMENSIONS[origin]
    if type_ == _MISSING_LENGTH[0] and kwargs.get(_MISSING_LENGTH[1]) == 1 and kwargs.get("max_value") is None:
        return "complete"
    return TYPE_DIMENSIONS.get(type_, "normative")


def level_of(type_: str) -> str:
    return "row" if type_.startswith(ROW_PREFIXES) else "table"


# Table-level types whose outcome depends on the columns only, never on the rows.
SCHEMA_TYPES = frozenset({
    "expect_column_to_exist", "expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list",
    "expect_table_column_count_to_equal", "expect_table_column_count_to_be_between",
})
# Row-level types whose verdict on a row depends on the other rows' values.
UNIQUE_TYPES = frozenset({"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"})


def needs_every_row(check: "Check", keys: list[str]) -> bool:
    """Whether ``check``'s outcome depends on rows other than the one judged, or on how many rows
    there are: ``mostly`` below 1, uniqueness over anything but exactly the key columns (a
    repeated key is never skipped, see :mod:`baselib.validation.executor`), or a table-level
    expectation other than column presence (:data:`SCHEMA_TYPES`). Such a check judged over the
    changed rows only would judge another set of rows, so the executor checks every row in a run
    whose plan holds one. Engine checks: False (they count every extracted row anyway)."""
    if check.origin == "engine":
        return False
    mostly = check.kwargs.get("mostly")
    if mostly is not None and float(mostly) < 1:
        return True
    if check.type in UNIQUE_TYPES:
        columns = check.kwargs.get("column_list") or [check.kwargs.get("column")]
        return sorted(columns) != sorted(keys)
    return check.level == "table" and check.type not in SCHEMA_TYPES


@dataclass(frozen=True)
class Check:
    """One check of the plan. ``index``: its position in :attr:`Plan.checks`."""

    index: int
    name: str           # e.g. "expect_column_values_to_not_be_null(name)" or "quarantine_threshold"
    type: str           # the expectation type, or the engine check's name
    kwargs: dict
    severity: str
    dimension: str
    level: str
    origin: str
    reason: str
    meta: dict = field(default_factory=dict)

    @property
    def is_expectation(self) -> bool:
        """Run by the executor row by row (or over a part); engine checks run once per load."""
        return self.origin != "engine"

    @property
    def columns(self) -> list[str]:
        """The columns the check reads (for samples in the report)."""
        kw = self.kwargs
        if kw.get("column_list"):
            return list(kw["column_list"])
        return [kw[k] for k in ("column", "column_A", "column_B") if kw.get(k)]

    def config(self) -> dict:
        """The GX expectation configuration (``{"type", "kwargs", "meta", "severity"}``)."""
        return {"type": self.type, "kwargs": self.kwargs, "meta": self.meta, "severity": self.severity}


@dataclass(frozen=True)
class Plan:
    resource_code: str
    suite_name: str
    checks: tuple[Check, ...]

    @property
    def expectations(self) -> list[Check]:
        return [c for c in self.checks if c.is_expectation]

    def needs_every_row(self, keys: list[str]) -> list[Check]:
        """The checks (:func:`needs_every_row`) that forbid checking changed rows only."""
        return [c for c in self.checks if needs_every_row(c, keys)]

    def engine(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.origin == "engine" and c.type == name), None)


def describe(type_: str, kwargs: dict) -> str:
    """``type(columns)``: how a check is named in blocking messages, warnings and quarantine."""
    cols = (kwargs.get("column") or ",".join(str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs)
            or kwargs.get("column_list"))
    return f"{type_}({cols})" if cols else type_


# The engine's table checks (evaluated by baselib.validation.executor.table_checks).
# name -> (dimension, reason template, applies to file drops, applies to table and API sources)
ENGINE_CHECKS: dict[str, tuple[str, str, bool, bool]] = {
    "empty_extract": ("complete", "全量抽取没有返回任何行 / the full extract returned no rows", False, True),
    "row_count_collapse": ("complete", "全量抽取的行数比现存记录少 {share:.0%} 以上 / the full extract has more than "
                                       "{share:.0%} fewer rows than are live", False, True),
    "max_deleted_share": ("complete", "对账将标记删除的现存记录超过 {share:.1%} / a reconcile would flag more than "
                                      "{share:.1%} of the live rows deleted", False, True),
    "quarantine_threshold": ("accurate", "未通过关键检查的行超过 {share:.1%} / more than {share:.1%} of the rows failed "
                                         "critical checks", False, True),
    "delivery_quality_threshold": ("accurate", "一个交付文件中未通过关键检查的行超过 {share:.0%}，整个文件退回 / more "
                                               "than {share:.0%} of a delivered file's rows failed critical checks: "
                                               "the file is sent back", True, False),
}


def _engine_checks(resource: Resource, start: int) -> list[Check]:
    shares = {"empty_extract": 0.0, "row_count_collapse": resource.pipeline.max_row_count_drop,
              "max_deleted_share": resource.pipeline.max_deleted_share,
              "quarantine_threshold": resource.pipeline.quarantine_threshold,
              "delivery_quality_threshold": resource.pipeline.quarantine_threshold}
    out = []
    for name, (dimension, reason, file_drop, table) in ENGINE_CHECKS.items():
        if not (file_drop if resource.delivery_based else table):
            continue
        if resource.pipeline.allow_empty and name in ("empty_extract", "row_count_collapse"):
            continue  # an empty result is a valid state for this resource (catalog.model.Pipeline.allow_empty)
        out.append(Check(index=start + len(out), name=name, type=name, kwargs={"threshold": shares[name]},
                         severity="critical", dimension=dimension, level="table", origin="engine",
                         reason=reason.format(share=shares[name]), meta={"origin": "engine"}))
    return out


def compile(resource: Resource, directory: Path = EXPECTATIONS_DIR) -> Plan:  # noqa: A001 - the plan is compiled
    """The resource's plan. Raises CatalogError (naming the suite file) for a suite that cannot be
    read (:func:`baselib.validation.suites.load_spec`), an unknown ``severity``, or an unknown
    ``meta.dimension``."""
    spec = full_spec(resource, directory)
    checks: list[Check] = []
    for n, exp in enumerate(spec["expectations"]):
        meta = dict(exp.get("meta") or {})
        origin = meta.get("origin", "suite")
        severity = exp.get("severity", "critical")
        where = f"{suite_path(resource, directory)}: {exp['type']} {json.dumps(exp['kwargs'], ensure_ascii=False)}"
        if severity not in SEVERITIES:
            raise CatalogError(f"{where}: severity must be one of {SEVERITIES}, got {severity!r}")
        dimension = meta.get("dimension") or default_dimension(exp["type"], exp["kwargs"], meta, origin)
        if dimension not in DIMENSIONS:
            raise CatalogError(f"{where}: meta.dimension must be one of {tuple(DIMENSIONS)}, got {dimension!r}")
        name = describe(exp["type"], exp["kwargs"])
        checks.append(Check(index=n, name=name, type=exp["type"], kwargs=exp["kwargs"], severity=severity,
                            dimension=dimension, level=level_of(exp["type"]), origin=origin,
                            reason=meta.get("reason") or f"failed {name}", meta=meta))
    checks += _engine_checks(resource, len(checks))
    return Plan(resource_code=resource.code, suite_name=spec["name"], checks=tuple(checks))
