"""A theme's inputs as catalog resources: the cross-entry checks and the derived related codes.

Each ``source.inputs[].table`` must be the target (``schema.table``) of another loadable catalog
entry; the input's ``columns``, ``when`` and ``ages`` columns must be items of that entry. A
theme's 关联资源代码 (``related_codes``) are its inputs' resource codes, sorted: derived, not
listed by hand (an entry that lists them anyway must list exactly these).
"""
from __future__ import annotations

from collections.abc import Iterable

from baselib.catalog.model import DataType, Item, Resource
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
        named += [(f"ages.{k}.column", a.column) for k, a in enumerate(theme_input.ages)]
        for field, column in named:
            if source.item(column) is None:
                raise CatalogError(f"{where}.{field}': {column!r} is not an item of {theme_input.table} "
                                   f"({source.code})")
        for k, age in enumerate(theme_input.ages):
            if source.item(age.column).type not in (DataType.D, DataType.T):
                raise CatalogError(f"{where}.ages.{k}.column': {age.column!r} of {theme_input.table} must be of "
                                   "type D or T")
        for k, (column, key) in enumerate(zip(theme_input.columns, resource.refresh_key)):
            _check_maps_to_key(f"{where}.columns.{k}'", theme_input.table, source.item(column), resource.item(key))
    derived = related_codes(resource, inputs)
    if resource.related_codes and sorted(resource.related_codes) != derived:
        raise CatalogError(f"field 'related_codes': a theme's related codes are derived from its inputs ({derived}); "
                           f"leave the field out or list exactly these, not {list(resource.related_codes)}")
    return inputs


def _check_maps_to_key(where: str, table: str, column: Item, key: Item) -> None:
    """An input column must hold values of the refresh-key item it maps to: the same data type and,
    when both name a standard identifier, the same one (``code``, a holder code of either kind,
    matches any). A column that only reaches the key through another table (a penalty's credit
    code for a theme keyed by division) would refresh keys that do not exist and leave the right
    ones stale, so it is an error here, not a silent miss at run time."""
    if column is None or key is None:
        return
    generic = "code"
    if column.type is not key.type or (
            column.identifier and key.identifier and generic not in (column.identifier, key.identifier)
            and column.identifier != key.identifier):
        described = lambda i: f"{i.name} ({i.type.value}{', ' + i.identifier if i.identifier else ''})"  # noqa: E731
        raise CatalogError(
            f"field {where}: {table}.{described(column)} does not hold values of the refresh key "
            f"{described(key)}: an input's columns must be the refresh key's values, in order (an input that "
            "reaches the key only through another table cannot say which keys its changes affect)")


def related_codes(resource: Resource, inputs: list[Resource]) -> list[str]:
    """The theme's 关联资源代码: its input resources' codes, sorted, without repeats."""
    return sorted({r.code for r in inputs})


def with_related_codes(resource: Resource, catalog: Iterable[Resource]) -> Resource:
    """``resource`` with ``related_codes`` derived from its inputs (what the catalog publishes)."""
    return resource.model_copy(update={"related_codes": related_codes(resource, input_resources(resource, catalog))})
