"""A theme's SQL model file: where it is, what it reads, which parameters it takes.

The file ``<models dir>/<source.model>.sql`` (``include/sql/models`` unless ``BASELIB_MODELS_DIR``
says otherwise, read when called) holds ONE SELECT statement (a ``WITH`` query is a SELECT)
returning the catalog's items as columns. Values come in as psycopg2 named parameters:
``%(as_of)s`` (timestamptz), ``%(as_of_date)s`` (date in Asia/Shanghai) and ``%(<name>)s`` for
each entry of ``source.parameters``; a literal percent sign is written ``%%``.

The parameters are bound client-side: the rows leave through ``COPY (SELECT …) TO STDOUT``, and
COPY takes no server-side parameters, so the source renders the query with psycopg2's
``cursor.mogrify`` (:func:`parameters` gives the values). Each value becomes a quoted, escaped SQL
literal (a list or mapping a ``jsonb`` literal via ``psycopg2.extras.Json``); nothing is ever
string-formatted into the SQL. The model text itself comes from the repository, not from users.

:func:`analyse` parses the file with sqlglot (dialect postgres) after replacing each parameter by
``NULL``, so the parameters survive parsing wherever a value may stand. :func:`check` compares
the result with the catalog entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from baselib.catalog.model import Resource
from baselib.errors import CatalogError
from baselib.settings import SQL_DIR

PARAMETER = re.compile(r"%\((?P<name>[A-Za-z_][A-Za-z0-9_]*)\)s")
BUILTIN_PARAMETERS = ("as_of", "as_of_date")
# what a model may call an input besides its base view: the SCD2 table and the consumer view
INPUT_SUFFIXES = ("_current", "_history")
ZONE = "Asia/Shanghai"  # as_of_date is the date of as_of here


def models_dir() -> Path:
    """The folder of the model files: ``BASELIB_MODELS_DIR``, else ``include/sql/models``."""
    return Path(os.environ.get("BASELIB_MODELS_DIR", SQL_DIR / "models"))


def model_path(resource: Resource) -> Path:
    return models_dir() / f"{resource.pipeline.source.model}.sql"


def model_text(resource: Resource) -> str:
    """The model SQL, without a trailing semicolon. Raises CatalogError when the file is missing."""
    path = model_path(resource)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CatalogError(f"field 'pipeline.source.model': no model file {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"field 'pipeline.source.model': cannot read {path}: {exc}") from exc
    return text.strip().rstrip(";").strip()


@dataclass(frozen=True)
class Analysis:
    """What the parser found in a model: ``tables`` as written (``schema.table``, sorted),
    ``parameters`` used (sorted), ``columns`` the output column names in order, or None when the
    parser cannot tell (a ``*`` in the outer select)."""

    tables: tuple[str, ...]
    parameters: tuple[str, ...]
    columns: tuple[str, ...] | None


def analyse(text: str, where: str = "model") -> Analysis:
    """Parse ``text``. Raises CatalogError (prefixed ``where``) unless it is one SELECT that
    writes nothing, and when it reads a table without a schema that is not one of its CTEs."""
    import sqlglot
    from sqlglot import exp

    parameters = tuple(sorted({m["name"] for m in PARAMETER.finditer(text)}))
    neutral = PARAMETER.sub("NULL", text).replace("%%", "%")
    try:
        statements = [s for s in sqlglot.parse(neutral, dialect="postgres") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise CatalogError(f"{where}: not valid PostgreSQL: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise CatalogError(f"{where}: must be exactly one SELECT statement, found "
                           f"{', '.join(type(s).__name__ for s in statements) or 'none'}")
    query = statements[0]
    writes = [type(n).__name__ for n in query.walk() if isinstance(n, (exp.Insert, exp.Update, exp.Delete,
                                                                       exp.Merge, exp.Create, exp.Drop))]
    if writes:
        raise CatalogError(f"{where}: a model only reads; it contains {', '.join(sorted(set(writes)))}")
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    tables, unqualified = set(), set()
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):  # a set-returning function (generate_series, …)
            continue
        if table.db:
            tables.add(f"{table.db}.{table.name}")
        elif table.name not in ctes:
            unqualified.add(table.name)
    if unqualified:
        raise CatalogError(f"{where}: reads {sorted(unqualified)} without a schema: write schema.table")
    selects = query.selects
    columns = None if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and isinstance(s.this, exp.Star))
                          for s in selects) else tuple(query.named_selects)
    return Analysis(tables=tuple(sorted(tables)), parameters=parameters, columns=columns)


def base_table(name: str, declared: set[str]) -> str:
    """The input a table the model reads stands for: itself when declared, else its name
    without a ``_current``/``_history`` suffix."""
    if name in declared:
        return name
    for suffix in INPUT_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in declared:
            return name.removesuffix(suffix)
    return name


def check(resource: Resource) -> Analysis:
    """The catalog checks of one theme entry against its model file. Raises CatalogError naming
    the field: the file exists and is one SELECT; the tables it reads are exactly the declared
    ``inputs`` (missing and extra ones named); every parameter is ``as_of``, ``as_of_date`` or in
    ``parameters``; its output columns, when the parser can tell, are the items."""
    source = resource.pipeline.source
    path = model_path(resource)
    analysis = analyse(model_text(resource), f"field 'pipeline.source.model': {path}")
    declared = {i.table for i in source.inputs}
    read = {base_table(t, declared) for t in analysis.tables}
    undeclared, unused = sorted(read - declared), sorted(declared - read)
    if undeclared or unused:
        problems = ([f"the model reads {undeclared}, which inputs do not declare"] if undeclared else []) + \
                   ([f"inputs declare {unused}, which the model does not read"] if unused else [])
        raise CatalogError(f"field 'pipeline.source.inputs': {'; '.join(problems)} ({path})")
    unknown = sorted(set(analysis.parameters) - set(BUILTIN_PARAMETERS) - set(source.parameters))
    if unknown:
        raise CatalogError(f"field 'pipeline.source.parameters': the model {path} uses {unknown}, which are neither "
                           f"{' nor '.join(BUILTIN_PARAMETERS)} nor declared parameters {sorted(source.parameters)}")
    if analysis.columns is not None:
        missing = [c for c in resource.column_names if c not in analysis.columns]
        extra = [c for c in analysis.columns if c not in resource.column_names]
        repeated = sorted({c for c in analysis.columns if analysis.columns.count(c) > 1})
        if missing or extra or repeated:
            raise CatalogError(f"field 'items': the model {path} must return exactly the items; "
                               f"missing {missing}, not items {extra}, repeated {repeated}")
    return analysis


def fingerprint(resource: Resource) -> str:
    """sha256 (hex) of what a theme's rows depend on besides its inputs' data: the model text,
    the parameters, the items (name, type, length, scale), the key, the refresh key and the inputs'
    mappings. A change forces the next refresh to recompute every key."""
    source = resource.pipeline.source
    document = {
        "model": model_text(resource),
        "parameters": source.parameters,
        "items": [[i.name, i.type.value, i.length, i.scale] for i in resource.items],
        "key": resource.pipeline.key_columns,
        "refresh_key": resource.refresh_key,
        "inputs": [i.model_dump(mode="json") for i in source.inputs],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def parameters(resource: Resource, as_of) -> dict:
    """The model's parameter values: ``as_of`` (aware datetime), ``as_of_date`` (its date in
    Asia/Shanghai) and each catalog parameter (lists and mappings as jsonb)."""
    import zoneinfo

    from psycopg2.extras import Json

    values = {name: Json(value) if isinstance(value, (list, dict)) else value
              for name, value in resource.pipeline.source.parameters.items()}
    values.update(as_of=as_of, as_of_date=as_of.astimezone(zoneinfo.ZoneInfo(ZONE)).date())
    return values
