"""Build a resource's expectation suite: its JSON file in ``expectations/`` plus checks the
catalog implies (columns present, not-null items, key uniqueness, maximum lengths, cross and
context checks). Imports neither GX nor pandas nor pyarrow: catalog loading (DAG parsing) uses
:func:`load_spec` to refuse a suite that repeats a catalog-derived check.

Suites are GX 1.x JSON: ``{"name", "expectations": [{"type", "kwargs", "severity", "meta"}]}``.
``meta.reason`` is the readable sentence quality officers send back to the provider;
``meta.dimension`` (optional) overrides the check's default quality dimension
(``baselib.validation.plan``).
"""
from __future__ import annotations

import json
from pathlib import Path

from baselib.catalog.loader import read_suite
from baselib.catalog.model import CrossCheck, DataType, Resource
from baselib.errors import CatalogError
from baselib.settings import EXPECTATIONS_DIR
from baselib.sources.columns import CONVERSION_ERROR, GEOMETRY_ERROR, SOURCE_CRS

KEY_COLUMN = "_key"  # synthetic column added during validation: the key values joined
NUMERIC_TEXT = r"^[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:[eE][+-]?[0-9]+)?$"


def suite_path(resource: Resource, directory: Path = EXPECTATIONS_DIR) -> Path:
    return directory / f"{resource.pipeline.expectation_suite}.json"


def load_spec(resource: Resource, directory: Path = EXPECTATIONS_DIR) -> dict:
    """The resource's suite file as a dict. Raises CatalogError naming the file when it cannot be
    read, is not a suite for this resource, or repeats a check the catalog already derives (see
    :func:`_reject_repeats`)."""
    path = suite_path(resource, directory)
    spec = read_suite(path, resource.pipeline.expectation_suite)  # the checks catalog loading makes
    _reject_repeats(path, spec["expectations"], catalog_expectations(resource))
    _check_dimensions(path, spec["expectations"])
    return spec


def _check_dimensions(path: Path, suite: list[dict]) -> None:
    """``meta.dimension``, when given, must be a GB/T 36344 dimension (``validation.plan.DIMENSIONS``)."""
    from baselib.validation.plan import DIMENSIONS  # plan imports this module

    for n, exp in enumerate(suite):
        dimension = (exp.get("meta") or {}).get("dimension")
        if dimension is not None and dimension not in DIMENSIONS:
            raise CatalogError(f"{path}: expectations[{n}] has meta.dimension {dimension!r}; it must be one of "
                               f"{', '.join(DIMENSIONS)} (GB/T 36344-2018)")


def _reject_repeats(path: Path, suite: list[dict], derived: list[dict]) -> None:
    """One cause, one reason: a suite expectation with the type and kwargs (None-valued kwargs
    ignored) of a catalog-derived one would quarantine the same rows under a second reason, so it
    is an error in the suite file, at catalog load, not a silent drop."""
    def signature(exp: dict) -> str:
        kwargs = {k: v for k, v in exp["kwargs"].items() if v is not None}
        return json.dumps([exp["type"], kwargs], sort_keys=True, ensure_ascii=False)

    reasons = {signature(exp): exp["meta"]["reason"] for exp in derived}
    for n, exp in enumerate(suite):
        if signature(exp) in reasons:
            raise CatalogError(
                f"{path}: expectations[{n}] ({exp['type']} {json.dumps(exp['kwargs'], ensure_ascii=False)}) repeats a "
                f"check derived from the catalog entry, reason {reasons[signature(exp)]!r}: remove it from the suite")


def numeric_check(item) -> tuple[str, str]:
    """(regex, reason) for a decimal item's text: any number for plain numeric, and for
    numeric(p, s) at most p - s digits before the point, so a value the column cannot hold is
    quarantined instead of failing the load's COPY."""
    if item.type is DataType.Y:
        precision, scale = 20, 2  # numeric(20,2), see warehouse.schema.PG_TYPES
    elif item.length:
        precision, scale = item.length, item.scale or 0
    else:
        return NUMERIC_TEXT, f"{item.label}({item.name}) 不是数值 / not a number"
    digits = max(precision - scale, 1)
    return (rf"^[+-]?0*(?:[0-9]{{1,{digits}}}(?:[.][0-9]*)?|[.][0-9]+)$",
            f"{item.label}({item.name}) 不是数值或整数部分超过 {digits} 位 / not a number, or more than {digits} "
            f"digits before the decimal point")


def catalog_expectations(resource: Resource) -> list[dict]:
    """Expectations derived from the catalog entry, tagged ``meta.origin = "catalog"``."""
    out: list[dict] = []

    def add(type_: str, kwargs: dict, reason: str) -> None:
        out.append({"type": type_, "kwargs": kwargs, "severity": "critical",
                    "meta": {"origin": "catalog", "reason": reason}})

    for item in resource.items:
        add("expect_column_to_exist", {"column": item.name}, f"{item.label}({item.name}) 列缺失 / column is missing")
    for item in resource.items:
        if not item.nullable:
            missing = f"{item.label}({item.name}) 为空 / value is missing"
            add("expect_column_values_to_not_be_null", {"column": item.name}, missing)
            if item.type in (DataType.C, DataType.M):  # an empty (or all-blank, once trimmed) text: the same cause
                add("expect_column_value_lengths_to_be_between", {"column": item.name, "min_value": 1}, missing)
        if item.type in (DataType.C, DataType.M) and item.length:
            add("expect_column_value_lengths_to_be_between", {"column": item.name, "max_value": item.length},
                f"{item.label}({item.name}) 超过 {item.length} 个字符 / longer than {item.length} characters")
        if item.type in (DataType.N, DataType.Y):  # exact decimals travel as text until PostgreSQL parses them
            regex, reason = numeric_check(item)
            add("expect_column_values_to_match_regex", {"column": item.name, "regex": regex}, reason)
    source = resource.pipeline.source
    # Every source kind: a value that is not of its item's type, or text PostgreSQL cannot store
    # (NUL), is kept as evidence in _conversion_error (baselib.sources.text) and quarantines its row.
    add("expect_column_values_to_be_null", {"column": CONVERSION_ERROR},
        "值与目录声明的数据类型不符或无法存储 / a value is not of its item's declared type or cannot be stored")
    if source.kind == "file_drop":
        if source.geometry is not None:
            add("expect_column_values_to_not_be_null", {"column": SOURCE_CRS},
                f"文件未声明坐标参考系，无法确认为 {source.geometry.crs} / the file declares no CRS, so the "
                f"coordinates cannot be taken as {source.geometry.crs}")
            add("expect_column_values_to_be_null", {"column": GEOMETRY_ERROR},
                "几何缺失或无法解析 / the geometry is missing or cannot be read")
    keys = ", ".join(resource.pipeline.key_columns)
    # File drops: a key repeated by a later file of the same run was superseded on extract, so
    # what is left repeats within one delivery.
    duplicate = (f"主键({keys})在同一交付文件中重复 / key appears more than once in one delivered file"
                 if resource.delivery_based else f"主键({keys})在本次抽取中重复 / key appears more than once in this extract")
    add("expect_column_values_to_not_be_in_set", {"column": KEY_COLUMN, "value_set": {"$PARAMETER": "duplicate_keys"}},
        duplicate)
    for check in resource.pipeline.cross_checks:
        kwargs = {"column": check.column, "value_set": {"$PARAMETER": cross_check_parameter(check)}}
        if check.when:
            kwargs |= {"row_condition": f'{check.when.column}=="{check.when.equals}"', "condition_parser": "pandas"}
        out.append({"type": "expect_column_values_to_be_in_set", "kwargs": kwargs, "severity": "warning",
                    "meta": {"origin": "cross_check", "reason": check.reason, "reference": check.reference}})
    for check in resource.pipeline.context_checks:
        out.append({"type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": context_check_column(check), "value_set": [True]},
                    "severity": check.severity,
                    "meta": {"origin": "context_check", "kind": check.kind, "reason": check.reason}})
    return out


def cross_check_parameter(check: CrossCheck) -> str:
    """The expectation parameter holding a cross check's matched values (``baselib.validation.cross_checks``)."""
    return f"cross_check__{check.name}"


def context_check_column(check) -> str:
    """The evidence column of a context check (``baselib.validation.context_checks``): True, False or NULL."""
    return f"_check__{check.name}"


def full_spec(resource: Resource, directory: Path = EXPECTATIONS_DIR) -> dict:
    spec = load_spec(resource, directory)
    return {"name": spec["name"], "expectations": catalog_expectations(resource) + spec["expectations"]}
