"""A theme's inputs as catalog resources: the cross-entry checks and the derived related codes.

Each ``source.inputs[].table`` must be the target (``schema.table``) of another loadable catalog
entry; the input's ``columns``, ``when`` and ``ages`` columns must be items of that entry. A
theme's 关联资源代码 (``related_codes``) are its inputs' resource codes, sorted: derived, not
listed by hand (an entry that lists them anyway must list exactly these).
"""
from __future__ import annotations

from collections.abc import Iterable

from baselib.catalog.model import DataType, Resource
from baselib.errors import CatalogError


def _resources(catalog) -> list[Resource]:
    return list(getattr(catalog, "resources", catalog))


def input_resources(resource: Resource, catalog: Iterable[Resource]) -> list[Resource]:
    """The catalog resources ``resource`` (a theme) reads, in the order of ``source.inputs``.
    ``catalog``: a list of resources or a :class:`baselib.catalog.loader.Catalog`. Raises
    CatalogError naming the first input that is not the target of another entry in it."""
    by_target = {r.pipeline.target.qualified: r for r in _resources(catalog) if r.code != resource.code}
    found = []
    for n, theme_input in enumerate(resource.pipeline.source.inputs):
        target = by_target.get(theme_input.table)
        if target is None:
            raise CatalogError(f"field 'pipeline.source.inputs.{n}.table': input {theme_input.table} is not a "
                               "catalog resource (no loadable entry has it as its target)")
        found.append(target)
    return found


def check(resource: Resource, catalog: Iterable[Resource]) -> list[Resource]:
    """:func:`input_resources`, plus: each input's ``columns``/``when``/``ages`` columns are items of
    its resource (``ages`` of type D or T), and hand-listed ``related_codes`` equal the derived
    ones. Returns the input resources; raises CatalogError naming the field."""
    inputs = input_resources(resource, catalog)
    for n, (theme_input, source) in enumerate(zip(resource.pipeline.source.inputs, inputs)):
        where = f"field 'pipeline.source.inputs.{n}"
        named = [("columns", c) for c in theme_input.columns]
        named += [("when.column", theme_input.when.column)] if theme_input.when else []
        named += [("ages.column", a.column) for a in theme_input.ages]
        for field, column in named:
            if source.item(column) is None:
                raise CatalogError(f"{where}.{field}': {column!r} is not an item of {theme_input.table} "
                                   f"({source.code})")
        for age in theme_input.ages:
            if source.item(age.column).type not in (DataType.D, DataType.T):
                raise CatalogError(f"{where}.ages.column': {age.column!r} of {theme_input.table} must be of type D or T")
    derived = related_codes(resource, inputs)
    if resource.related_codes and sorted(resource.related_codes) != derived:
        raise CatalogError(f"field 'related_codes': a theme's related codes are derived from its inputs ({derived}); "
                           f"leave the field out or list exactly these, not {list(resource.related_codes)}")
    return inputs


def related_codes(resource: Resource, inputs: list[Resource]) -> list[str]:
    """The theme's 关联资源代码: its input resources' codes, sorted, without repeats."""
    return sorted({r.code for r in inputs})


def with_related_codes(resource: Resource, catalog: Iterable[Resource]) -> Resource:
    """``resource`` with ``related_codes`` derived from its inputs (what the catalog publishes)."""
    return resource.model_copy(update={"related_codes": related_codes(resource, input_resources(resource, catalog))})
