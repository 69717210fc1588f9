"""Apply DDL idempotently: shared schemas from include/sql/ddl, per-resource tables from the catalog."""
from __future__ import annotations

import logging
import os

import psycopg2.errors
from psycopg2 import sql

from baselib.catalog.model import DataType, Item, Resource, SharingType
from baselib.errors import SchemaMismatch
from baselib.settings import SQL_DIR
from baselib.warehouse import sqlfiles

log = logging.getLogger(__name__)

# Serialises DDL across concurrent DAG runs (CREATE ... IF NOT EXISTS can still race in the catalogs).
_DDL_LOCK_KEY = 0x6261_7365_6C69_62  # "baselib"

PG_TYPES: dict[DataType, str] = {
    DataType.C: "varchar",
    DataType.N: "numeric",
    DataType.Y: "numeric(20,2)",
    DataType.D: "date",
    DataType.T: "timestamptz",
    DataType.L: "boolean",
    DataType.M: "text",
    DataType.G: "bytea",
    DataType.B: "double precision",
    DataType.I: "bigint",
    DataType.F: "real",
}


def column_type(item: Item) -> str:
    if item.type is DataType.C:
        return f"varchar({item.length})" if item.length else "text"
    if item.type is DataType.N and item.length:
        return f"numeric({item.length},{item.scale or 0})"
    return PG_TYPES[item.type]


def _column_ddl(item: Item) -> sql.Composed:
    not_null = sql.SQL(" NOT NULL") if not item.nullable else sql.SQL("")
    return sql.SQL("{} {}{}").format(sql.Identifier(item.name), sql.SQL(column_type(item)), not_null)


def history_table(resource: Resource) -> str:
    return resource.pipeline.target.qualified + "_history"


def current_view(resource: Resource) -> str:
    return resource.pipeline.target.qualified + "_current"


def current_view_template(resource: Resource) -> str:
    """``include/sql/views/<schema>.<table>_current.sql`` when the resource derives columns
    (e.g. a certificate's validity today); the plain template otherwise."""
    override = f"views/{current_view(resource)}"
    return override if (SQL_DIR / f"{override}.sql").is_file() else "templates/current_view"


def reader_role(resource: Resource) -> str:
    return f"{resource.pipeline.target.schema_name}_reader"


def apply_shared_ddl(cur) -> None:
    for path in sorted((SQL_DIR / "ddl").glob("*.sql")):
        cur.execute(path.read_text(encoding="utf-8"))


def apply_resource_ddl(cur, resource: Resource) -> None:
    target = resource.pipeline.target
    cur.execute(
        sqlfiles.compose(
            "templates/base_table",
            schema=sql.Identifier(target.schema_name),
            table=sqlfiles.ident(target.qualified),
            history=sqlfiles.ident(history_table(resource)),
            history_open_index=sql.Identifier(f"{target.table}_history_open"),
            columns=sql.SQL(",\n    ").join(_column_ddl(i) for i in resource.items),
            keys=sqlfiles.ident_list(resource.pipeline.key_columns),
        )
    )
    _add_new_items(cur, resource)
    geometry = geometry_columns(cur, resource)
    for wkb, geom in geometry.items():
        settings = resource.pipeline.source.geometry
        cur.execute(sqlfiles.compose(
            "templates/postgis_column", table=sqlfiles.ident(target.qualified),
            history=sqlfiles.ident(history_table(resource)), geom=sql.Identifier(geom), wkb=sql.Identifier(wkb),
            geometry_type=sql.SQL(settings.postgis_type), srid=sql.Literal(settings.srid),
            index=sql.Identifier(f"{target.table}_{geom}_gist")))
    _replace_current_view(cur, resource, list(geometry.values()))
    _apply_grants(cur, resource)


def postgis_available(cur) -> bool:
    """Whether this warehouse stores PostGIS geometry columns beside the WKB.

    ``BASELIB_POSTGIS``: ``auto`` (default) uses PostGIS when the server has it, creating the
    extension if allowed; ``on`` requires it; ``off`` never uses it (WKB, GeoJSON and bbox only)."""
    mode = os.environ.get("BASELIB_POSTGIS", "auto").lower()
    if mode not in ("auto", "on", "off"):
        raise SchemaMismatch(f"BASELIB_POSTGIS must be auto, on or off, not {mode!r}")
    if mode == "off":
        return False
    cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
    if cur.fetchone():
        return True
    cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
    if cur.fetchone() is None:
        if mode == "on":
            raise SchemaMismatch("BASELIB_POSTGIS=on but the PostgreSQL server has no PostGIS extension "
                                 "(install postgresql-<version>-postgis-3)")
        return False
    cur.execute("SAVEPOINT create_postgis")
    try:
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg2.errors.InsufficientPrivilege as exc:
        cur.execute("ROLLBACK TO SAVEPOINT create_postgis")
        if mode == "on":
            raise SchemaMismatch(f"BASELIB_POSTGIS=on but PostGIS cannot be enabled: {exc}") from exc
        log.warning("PostGIS is available but this role cannot create the extension; storing WKB only")
        return False
    cur.execute("RELEASE SAVEPOINT create_postgis")
    return True


def geometry_columns(cur, resource: Resource) -> dict[str, str]:
    """{WKB item: PostGIS column} for the resource, when PostGIS is in use; empty otherwise."""
    settings = getattr(resource.pipeline.source, "geometry", None)
    if settings is None or not postgis_available(cur):
        return {}
    return {settings.column: f"{settings.column}_geom"}


def _replace_current_view(cur, resource: Resource, extra_columns: list[str] = ()) -> None:
    """CREATE OR REPLACE the view; when its columns changed in a way that cannot be replaced in
    place (renamed, reordered, removed), drop and recreate it in the same transaction. A view
    someone built on top of it makes the DROP fail with PostgreSQL's own clear message."""
    view = sqlfiles.ident(current_view(resource))
    statement = sqlfiles.compose(
        current_view_template(resource),
        current_view=view,
        table=sqlfiles.ident(resource.pipeline.target.qualified),
        column_names=sqlfiles.ident_list(resource.column_names + list(extra_columns)),
    )
    cur.execute("SAVEPOINT replace_view")
    try:
        cur.execute(statement)
    except psycopg2.errors.InvalidTableDefinition:
        cur.execute("ROLLBACK TO SAVEPOINT replace_view")
        log.info("recreating %s: its columns changed", current_view(resource))
        cur.execute(sql.SQL("DROP VIEW {}").format(view))
        cur.execute(statement)
    cur.execute("RELEASE SAVEPOINT replace_view")


def _existing_columns(cur, qualified: str) -> dict[str, str]:
    schema, table = qualified.split(".")
    cur.execute(
        "SELECT column_name, format_type(a.atttypid, a.atttypmod) FROM information_schema.columns c "
        "JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass "
        " AND a.attname = c.column_name "
        "WHERE c.table_schema = %s AND c.table_name = %s",
        (schema, table),
    )
    return dict(cur.fetchall())


def _add_new_items(cur, resource: Resource) -> None:
    """Items added to the catalog become nullable columns; a changed type is an error, not a silent cast."""
    for qualified in (resource.pipeline.target.qualified, history_table(resource)):
        existing = _existing_columns(cur, qualified)
        for item in resource.items:
            wanted = column_type(item)
            have = existing.get(item.name)
            if have is None:
                log.info("adding column %s.%s %s", qualified, item.name, wanted)
                cur.execute(
                    sqlfiles.compose(
                        "templates/add_column",
                        table=sqlfiles.ident(qualified),
                        column=sql.Identifier(item.name),
                        type=sql.SQL(wanted),
                    )
                )
            elif _normal_type(have) != _normal_type(wanted):
                raise SchemaMismatch(
                    f"{qualified}.{item.name} is {have} in the warehouse but the catalog says {wanted}; "
                    "migrate the column by hand (include/sql) before loading"
                )


def _normal_type(pg_type: str) -> str:
    return (
        pg_type.replace("character varying", "varchar")
        .replace("timestamp with time zone", "timestamptz")
        .replace(" ", "")
    )


def _ensure_role(cur, role: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    if cur.fetchone() is None:
        cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))


def _apply_grants(cur, resource: Resource) -> None:
    """Derived from the catalog: non-personal items for the schema's reader role; personal items
    only for the roles the catalog names under conditional sharing; nothing for 不予共享."""
    view = sqlfiles.ident(current_view(resource))
    reader = reader_role(resource)
    _ensure_role(cur, reader)
    cur.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(view))
    if resource.sharing.type is SharingType.not_shared:
        cur.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(view, sql.Identifier(reader)))
        return
    personal = {i.name for i in resource.items if i.personal}
    shared = [c for c in _existing_columns(cur, current_view(resource)) if c not in personal]
    cur.execute(
        sqlfiles.compose(
            "templates/grants",
            schema=sql.Identifier(resource.pipeline.target.schema_name),
            reader=sql.Identifier(reader),
            current_view=view,
            shared_columns=sqlfiles.ident_list(shared),
        )
    )
    for role in resource.sharing.personal_data_readers:
        _ensure_role(cur, role)
        cur.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}; GRANT SELECT ON {} TO {}").format(
                sql.Identifier(resource.pipeline.target.schema_name), sql.Identifier(role), view, sql.Identifier(role)
            )
        )


def ensure(conn, resources: list[Resource]) -> None:
    """Apply shared DDL and each resource's tables in one transaction, under an advisory lock."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK_KEY,))
        apply_shared_ddl(cur)
        for resource in resources:
            apply_resource_ddl(cur, resource)
    conn.commit()
