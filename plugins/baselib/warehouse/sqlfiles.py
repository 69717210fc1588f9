"""SQL lives in include/sql/. This module reads it and composes vetted identifiers into it.

Values never go through formatting: they are passed to ``cursor.execute`` as parameters.
Placeholders in templates are psycopg2.sql identifiers/fragments only.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable

from psycopg2 import sql

from baselib.settings import SQL_DIR


@functools.lru_cache(maxsize=None)
def text(name: str) -> str:
    """The contents of ``include/sql/<name>.sql``."""
    path = SQL_DIR / f"{name}.sql"
    return path.read_text(encoding="utf-8")


def compose(name: str, **parts: sql.Composable) -> sql.Composed:
    return sql.SQL(text(name)).format(**parts)


def ident(dotted: str) -> sql.Identifier:
    """``schema.table`` -> a quoted, qualified identifier."""
    return sql.Identifier(*dotted.split("."))


def ident_list(names: Iterable[str], prefix: str | None = None) -> sql.Composed:
    if prefix:
        return sql.SQL(", ").join(sql.Identifier(prefix, n) for n in names)
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def key_join(left: str, right: str, keys: Iterable[str]) -> sql.Composed:
    """``left.k1 = right.k1 AND left.k2 = right.k2``."""
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(left, k), sql.Identifier(right, k)) for k in keys
    )
