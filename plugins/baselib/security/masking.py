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
"""
from __future__ import annotations

from collections.abc import Sequence

from psycopg2 import sql

from baselib.catalog.model import Resource

# The schema holding the masking functions (include/sql/ddl/050_masking.sql).
MASK_SCHEMA = "masking"


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
