"""Apply DDL idempotently: shared schemas from include/sql/ddl, per-resource tables from the catalog.

Per resource (include/sql/templates):

* ``<schema>.<table>_history`` (``base_table``): THE table, one SCD2 version per row, exactly one
  open version (``_valid_to IS NULL``) per key ever loaded (a tombstone, ``_change`` 'D' with
  ``_deleted_at`` set, for a key deleted at the source), a partial unique index on the open
  versions' keys;
* ``<schema>.<table>`` (``base_view``): a simple, auto-updatable view of the open versions with
  the columns the current table of the old two-table layout had (items, ``_row_hash``,
  ``_load_id``, ``_first_loaded_at``, ``_loaded_at`` = ``_valid_from``, ``_deleted_at``,
  ``_delivery_id``, then any PostGIS columns);
* ``<schema>.<table>_current`` (``current_view`` or an override in include/sql/views): live
  versions for consumers, with the grants the catalog's sharing settings give;
* ``<schema>.<table>_masked`` (``masked_view``, shared resources only): the current view with
  personal items masked (baselib.security.masking), what the schema's reader role reads whole.

A warehouse still in the old layout (``<table>`` an ordinary table beside ``<table>_history``)
is migrated by :func:`ensure`, in its transaction (include/sql/migrations/single_scd2).
"""
from __future__ import annotations

import logging
import os

import psycopg2.errors
from psycopg2 import sql

from baselib.catalog.model import DataType, Item, Resource, SharingType
from baselib.errors import SchemaMismatch
from baselib.security import masking
from baselib.settings import SQL_DIR
from baselib.warehouse import sqlfiles

log = logging.getLogger(__name__)

# Serialises DDL across concurrent DAG runs (CREATE ... IF NOT EXISTS can still race in the catalogs).
_DDL_LOCK_KEY = 0x6261_7365_6C69_62  # "baselib"
DDL_LOCK_KEY = _DDL_LOCK_KEY  # baselib.sharing.grants.reconcile takes it too, first

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
    """The resource's SCD2 table, base view, consumer view and grants; migrates the old two-table
    layout first (:func:`migrate_two_table_layout`). Idempotent. Raises SchemaMismatch."""
    target = resource.pipeline.target
    migrate_two_table_layout(cur, resource)
    cur.execute(
        sqlfiles.compose(
            "templates/base_table",
            schema=sql.Identifier(target.schema_name),
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
            "templates/postgis_column",
            history=sqlfiles.ident(history_table(resource)), geom=sql.Identifier(geom), wkb=sql.Identifier(wkb),
            geometry_type=sql.SQL(settings.postgis_type), srid=sql.Literal(settings.srid),
            index=sql.Identifier(f"{target.table}_{geom}_gist")))
    _replace_base_view(cur, resource, list(geometry.values()))
    _replace_current_view(cur, resource, list(geometry.values()))
    _replace_masked_view(cur, resource)
    _apply_grants(cur, resource)


def _relkind(cur, qualified: str) -> str | None:
    """'r' table, 'v' view, … or None when there is no such relation."""
    cur.execute("SELECT c.relkind FROM pg_class AS c WHERE c.oid = to_regclass(%s)", (qualified,))
    row = cur.fetchone()
    return row[0] if row else None


def migrate_two_table_layout(cur, resource: Resource) -> bool:
    """Migrate a resource stored in the old two-table layout (an ordinary current table
    ``<table>`` plus ``<table>_history``) to the single SCD2 table; True when it did.

    Handles every two-table layout this engine wrote (commits 552bfaf to 0b4638c): those from
    before file-drop sources lack ``_delivery_id`` in both tables, which then get it (NULL).
    In the caller's transaction (``ensure``: under the DDL lock): add ``_first_loaded_at`` and
    ``_deleted_at`` to the history table, add a tombstone for every deletion the old layout kept
    as a gap, check that the open versions equal the old table's rows, then drop the old table,
    its consumer view and the history's primary key. The views and grants follow in
    :func:`apply_resource_ddl`. A warehouse already migrated (a view under the base table's name)
    or new is left alone, so running it again changes nothing. Raises SchemaMismatch (the caller
    rolls back: nothing changes) when the open versions disagree with the old table."""
    target = resource.pipeline.target
    history = history_table(resource)
    if _relkind(cur, target.qualified) != "r":
        return False
    if _relkind(cur, history) != "r":
        raise SchemaMismatch(f"{target.qualified} is a table without {history}: not a layout this engine wrote")
    log.info("migrating %s to a single SCD2 table %s", target.qualified, history)
    keys = resource.pipeline.key_columns
    history_name = history.split(".")[1]
    cur.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c' "
        "AND pg_get_constraintdef(oid) LIKE %s", (history, "%\\_change%"))
    checks = [r[0] for r in cur.fetchall()]
    names = sqlfiles.ident_list(resource.column_names)
    parts = {
        "table": sqlfiles.ident(target.qualified),
        "history": sqlfiles.ident(history),
        "current_view": sqlfiles.ident(current_view(resource)),
        "column_names": names,
        "column_names_t": sqlfiles.ident_list(resource.column_names, prefix="t"),
        "column_names_h": sqlfiles.ident_list(resource.column_names, prefix="h"),
        "key_columns": sqlfiles.ident_list(keys),
        "key_join_ht": sqlfiles.key_join("h", "t", keys),
        "key_join_hf": sqlfiles.key_join("h", "f", keys),
        "change_check": sql.Identifier(checks[0] if checks else f"{history_name}__change_check"),
    }
    for check in checks[1:]:
        cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(parts["history"], sql.Identifier(check)))
    _add_new_items(cur, resource, [target.qualified, history])  # items the catalog added since the last load
    cur.execute(sqlfiles.compose("migrations/single_scd2/columns", **parts))
    cur.execute(sqlfiles.compose("migrations/single_scd2/tombstones", **parts))
    cur.execute(sqlfiles.compose("migrations/single_scd2/verify", **parts))
    differing = cur.fetchone()[0]
    if differing:
        raise SchemaMismatch(
            f"cannot migrate {target.qualified} to a single SCD2 table: {differing} keys' open versions in {history} "
            f"differ from the rows of {target.qualified} (or exist on one side only); nothing was changed. "
            f"Repair {history} so that its open versions match {target.qualified}, then load again")
    cur.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", (history,))
    pkey = cur.fetchone()
    cur.execute(sqlfiles.compose("migrations/single_scd2/drop_old", **parts,
                                 history_pkey=sql.Identifier(pkey[0] if pkey else f"{history_name}_pkey")))
    return True


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


def _replace_base_view(cur, resource: Resource, extra_columns: list[str] = ()) -> None:
    """The base table's name as a view of the open versions (templates/base_view)."""
    extra = sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(c)) for c in extra_columns)
    statement = sqlfiles.compose(
        "templates/base_view",
        table=sqlfiles.ident(resource.pipeline.target.qualified),
        history=sqlfiles.ident(history_table(resource)),
        column_names=sqlfiles.ident_list(resource.column_names),
        extra_columns=extra,
    )
    _replace_view(cur, resource.pipeline.target.qualified, statement)


def _replace_current_view(cur, resource: Resource, extra_columns: list[str] = ()) -> None:
    """The consumer view (templates/current_view, or its override in include/sql/views). The
    masked view built on it is dropped first when the current view must be recreated; the
    caller recreates it (:func:`_replace_masked_view`) in the same transaction. The sharing
    consumers' views on it (share_<code>.<schema>__<table>) are dropped with it and rebuilt here
    from the active applications (baselib.sharing.grants.rebuild_resource_views, each change
    recorded); a resource that became 不予共享 loses them at once."""
    statement = sqlfiles.compose(
        current_view_template(resource),
        current_view=sqlfiles.ident(current_view(resource)),
        history=sqlfiles.ident(history_table(resource)),
        column_names=sqlfiles.ident_list(resource.column_names + list(extra_columns)),
    )
    from baselib.sharing import grants  # sharing builds on this module

    consumer_views = grants.dependent_views(cur, current_view(resource))
    _replace_view(cur, current_view(resource), statement,
                  dependents=[masking.masked_view(resource), *consumer_views])
    dropped = [v for v in consumer_views if _relkind(cur, v) is None]
    if dropped or (consumer_views and resource.sharing.type is SharingType.not_shared):
        grants.rebuild_resource_views(cur, resource, dropped)


def _view_columns(cur, qualified: str) -> list[str]:
    """The relation's column names in their order."""
    cur.execute("SELECT a.attname FROM pg_attribute AS a WHERE a.attrelid = to_regclass(%s) "
                "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (qualified,))
    return [r[0] for r in cur.fetchall()]


def _replace_masked_view(cur, resource: Resource) -> None:
    """The masked consumer view (templates/masked_view, baselib.security.masking) over the
    current view's columns; dropped for a resource that is not shared (不予共享)."""
    masked = masking.masked_view(resource)
    if resource.sharing.type is SharingType.not_shared:
        cur.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(sqlfiles.ident(masked)))
        return
    statement = sqlfiles.compose(
        "templates/masked_view",
        masked_view=sqlfiles.ident(masked),
        current_view=sqlfiles.ident(current_view(resource)),
        select_list=masking.select_list(resource, _view_columns(cur, current_view(resource))),
    )
    _replace_view(cur, masked, statement)


def _replace_view(cur, qualified: str, statement: sql.Composed, dependents: list[str] = ()) -> None:
    """CREATE OR REPLACE the view; when its columns changed in a way that cannot be replaced in
    place (renamed, reordered, removed, retyped), drop and recreate it in the same transaction,
    after dropping ``dependents`` (the engine's own views on it, which the caller recreates next).
    A view someone else built on top of it makes the DROP fail with PostgreSQL's own clear message."""
    view = sqlfiles.ident(qualified)
    cur.execute("SAVEPOINT replace_view")
    try:
        cur.execute(statement)
    except psycopg2.errors.InvalidTableDefinition:
        cur.execute("ROLLBACK TO SAVEPOINT replace_view")
        log.info("recreating %s: its columns changed", qualified)
        for dependent in dependents:
            cur.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(sqlfiles.ident(dependent)))
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


def _add_new_items(cur, resource: Resource, tables: list[str] | None = None) -> None:
    """Items added to the catalog become nullable columns of the SCD2 table (``tables``: those
    tables instead); a changed type is an error (SchemaMismatch), not a silent cast."""
    for qualified in tables or [history_table(resource)]:
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


def _grantees(cur, qualified: str) -> list[str]:
    """Roles with any privilege on the relation or one of its columns, but its owner and PUBLIC."""
    cur.execute(sqlfiles.text("queries/relation_grantees"), (qualified, qualified))
    return [r[0] for r in cur.fetchall()]


def _apply_grants(cur, resource: Resource) -> None:
    """Derived from the catalog: non-personal items of the current view and the whole masked
    view for the schema's reader role; the whole current view (raw personal items) only for the
    roles the catalog names under conditional sharing; nothing for 不予共享. A role the catalog no
    longer names (a personal-data reader removed, a resource that became 不予共享) loses what
    it was granted on these views."""
    view = sqlfiles.ident(current_view(resource))
    masked = masking.masked_view(resource)
    reader = reader_role(resource)
    _ensure_role(cur, reader)
    shared_resource = resource.sharing.type is not SharingType.not_shared
    allowed = {reader, *resource.sharing.personal_data_readers} if shared_resource else set()
    cur.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(view))
    for role in _grantees(cur, current_view(resource)):
        if role not in allowed:
            log.info("revoking %s's access to %s: the catalog does not grant it", role, current_view(resource))
            cur.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(view, sql.Identifier(role)))
    if not shared_resource:
        cur.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(view, sql.Identifier(reader)))
        return
    for role in _grantees(cur, masked):
        if role != reader:
            cur.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(sqlfiles.ident(masked), sql.Identifier(role)))
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
    cur.execute(sqlfiles.compose("templates/masked_grants", masked_view=sqlfiles.ident(masked),
                                 reader=sql.Identifier(reader)))
    for role in resource.sharing.personal_data_readers:
        _ensure_role(cur, role)
        cur.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}; GRANT SELECT ON {} TO {}").format(
                sql.Identifier(resource.pipeline.target.schema_name), sql.Identifier(role), view, sql.Identifier(role)
            )
        )


DEADLOCK_ATTEMPTS = 4  # ensure() tries the DDL transaction this often when it is a deadlock's victim


def ensure(conn, resources: list[Resource]) -> None:
    """Apply shared DDL and each resource's SCD2 table and views in one transaction, under an
    advisory lock, migrating a resource still in the two-table layout first. Commits; raises
    SchemaMismatch (nothing committed) for a changed item type or a migration that would not
    keep the current rows.

    The DDL takes strong locks (``ALTER TABLE … IF NOT EXISTS`` still locks the table) while other
    DAGs write to the same tables without the advisory lock; on a freshly deployed platform every
    DAG starts at once, and PostgreSQL may end the DDL transaction as a deadlock's victim. When the
    connection had no transaction open before the call (nothing of the caller's is lost by a
    rollback), the transaction is rolled back and tried again, up to :data:`DEADLOCK_ATTEMPTS`
    times, 0.5 s, 1 s, 1.5 s apart; the last ``DeadlockDetected`` is raised."""
    import time

    from psycopg2 import extensions

    retry = conn.get_transaction_status() == extensions.TRANSACTION_STATUS_IDLE
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK_KEY,))
                apply_shared_ddl(cur)
                for resource in resources:
                    apply_resource_ddl(cur, resource)
            conn.commit()
            return
        except psycopg2.errors.DeadlockDetected:
            if not retry or attempt == DEADLOCK_ATTEMPTS:
                raise
            conn.rollback()
            log.warning("warehouse DDL was a deadlock's victim (attempt %d of %d); trying again",
                        attempt, DEADLOCK_ATTEMPTS)
            time.sleep(0.5 * attempt)
