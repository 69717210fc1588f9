"""Masked consumer views: what a role without personal-data access reads.

For every shared resource (not 不予共享) the warehouse has ``<schema>.<table>_masked``, a view of
the consumer view ``<schema>.<table>_current`` (or its override in include/sql/views, so derived
columns stay) with, in the current view's column order:

* each item with a ``mask:`` rule replaced by ``masking.<rule>(item)`` under the same column name
  (type text; the rules are the SQL functions of include/sql/ddl/050_masking.sql);
* each other personal item (no rule, e.g. a birth date) left out;
* every other column as it is.

The schema's reader role gets ``SELECT`` on the whole masked view and never a grant on a raw
personal column (``baselib.warehouse.schema._apply_grants``).

:func:`mask` is the same rules in Python, for what the engine shows outside the database (the
samples of a quality report): it gives exactly what ``masking.<rule>(value)`` gives.
"""
from __future__ import annotations

from collections.abc import Sequence

from psycopg2 import sql

from baselib.catalog.model import Resource

# The schema holding the masking functions (include/sql/ddl/050_masking.sql).
MASK_SCHEMA = "masking"

# What a personal item without a mask rule shows outside the database (the masked view leaves it out).
HIDDEN = "***"

# masking.compound_surnames() of include/sql/ddl/050_masking.sql (复姓 kept whole by the name rule).
COMPOUND_SURNAMES = frozenset((
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "令狐", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "呼延", "闻人", "申屠", "澹台", "公冶",
    "太史", "钟离", "赫连", "万俟", "淳于", "濮阳", "宗政", "拓跋", "东郭", "公羊", "左丘", "鲜于",
    "闾丘", "司空", "漆雕", "乐正", "梁丘", "羊舌", "微生", "百里"))


def _keep_ends(value: str, head: int, tail: int) -> str:
    hidden = len(value) - head - tail
    if hidden >= 4:
        return value[:head] + "*" * hidden + value[len(value) - tail:]
    return "*" * len(value)


def _name(value: str) -> str:
    if len(value) >= 3 and value[:2] in COMPOUND_SURNAMES:
        return value[:2] + "*" * (len(value) - 2)
    if len(value) >= 2:
        return value[:1] + "*" * (len(value) - 1)
    return "*" * len(value)


def _address(value: str) -> str:
    return value[:6] + "****" if len(value) - 6 >= 4 else "****"


RULES = {
    "citizen_id": lambda v: _keep_ends(v, 6, 4),
    "phone": lambda v: _keep_ends(v, 3, 4),
    "address": _address,
    "name": _name,
}


def mask(rule: str | None, value) -> str | None:
    """``value`` as a consumer without personal-data access may see it: ``masking.<rule>(value)``
    of include/sql/ddl/050_masking.sql for a catalog mask rule (citizen_id, name, phone,
    address; characters counted, not bytes; the value's text, ``str(value)``), :data:`HIDDEN`
    for a personal item without a rule (``rule`` None). None stays None. Raises ValueError for an
    unknown rule."""
    if value is None:
        return None
    if rule is None:
        return HIDDEN
    if rule not in RULES:
        raise ValueError(f"unknown mask rule {rule!r}: one of {sorted(RULES)}")
    return RULES[rule](str(value))


def masked_view(resource: Resource) -> str:
    """``<schema>.<table>_masked``, the qualified name of the resource's masked consumer view."""
    return resource.pipeline.target.qualified + "_masked"


def masked_columns(resource: Resource, current_columns: Sequence[str]) -> list[str]:
    """The masked view's column names: ``current_columns`` (the current view's, in order) minus
    the personal items that have no masking rule."""
    dropped = {i.name for i in resource.items if i.personal and i.mask is None}
    return [c for c in current_columns if c not in dropped]


def select_list(resource: Resource, current_columns: Sequence[str]) -> sql.Composed:
    """The masked view's select list over ``current_columns``: ``masking.<rule>("col") AS "col"``
    for an item with a rule, ``"col"`` for a column that is not personal; personal items without
    a rule are left out. Raises ValueError when nothing is left to select."""
    rules = {i.name: i.mask for i in resource.items if i.personal and i.mask is not None}
    parts = []
    for column in masked_columns(resource, current_columns):
        if column in rules:
            parts.append(sql.SQL("{}({}) AS {}").format(
                sql.Identifier(MASK_SCHEMA, rules[column]), sql.Identifier(column), sql.Identifier(column)))
        else:
            parts.append(sql.Identifier(column))
    if not parts:
        raise ValueError(f"{resource.pipeline.target.qualified}: no column left for a masked view")
    return sql.SQL(", ").join(parts)
