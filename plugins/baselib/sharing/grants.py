"""Grants derived from approved sharing applications, never hand-written.

A consumer ``<code>`` (LOGIN role ``consumer_<code>``, baselib.sharing.consumers) reads shared data
only through the views of its schema ``share_<code>``: one view per approved application whose
period covers today, ``share_<code>.<schema>__<table>`` over ``<schema>.<table>_current``, with the
columns

* ``_row_key``: the record key ``concat_ws('/', key columns::text)`` (as ops.quarantine.record_key
  writes it), or, when a key item is personal and the application is not, the hex SHA-256 of
  ``secret|consumer_code|record key`` (secret: sharing.row_key_secret), an opaque key the consumer
  can quote (a data objection) and :func:`resolve_row_key` maps back;
* exactly the approved items, in catalog order: personal items raw only for an application with
  ``personal = true`` on a 有条件共享 resource, otherwise masked by the item's ``mask`` rule
  (baselib.security.masking, the same SQL functions as ``<table>_masked``) or left out;
* ``_loaded_at``: when the row's live version was loaded.

Each view is filtered by ``sharing.require_active(application_id, ends_at)``, which raises
``insufficient_privilege`` from 00:00 Asia/Shanghai after ``period_end`` on, so access ends on time
even before the reconcile drops the view. The consumer role holds SELECT on its views and USAGE on
its schema, and is a member of the group ``sharing_consumer`` only, which holds USAGE on ``catalog``
and ``sharing``, SELECT on ``catalog.resource``, ``catalog.resource_item`` and
``sharing.my_application``, and EXECUTE on ``sharing.require_active``.

:func:`reconcile` makes the warehouse match that, and removes (and records in sharing.grant_change)
everything nothing justifies: privileges on relations, columns, schemas and routines (also those a
role other than the owner granted, revoked as that role), memberships, default privileges
(pg_default_acl) for consumers, the group, or PUBLIC in a guarded schema, privileges on the
database beyond CONNECT (CREATE; TEMPORARY, PUBLIC's included), and PUBLIC's CREATE on a guarded
schema. Before it takes anything from a consumer it ends that consumer's sessions in this database.
What it made each view from (application, resource, fingerprint) is kept in sharing.consumer_view,
which consumers cannot read; every role can read view definitions and role names (pg_class,
pg_get_viewdef), so a consumer view's definition (its application id and end, its items and masking
rules) is visible to other consumers of the database.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2.errors
import psycopg2.extensions
import yaml
from psycopg2 import sql

from baselib.catalog import Catalog, Resource, scan_catalog
from baselib.catalog.model import DataType, SharingType
from baselib.errors import SharingError
from baselib.security import masking
from baselib.sharing import audit, policy
from baselib.sharing.audit import GrantChange
from baselib.sharing.consumers import CONSUMER_GROUP, terminate_sessions
from baselib.warehouse import schema as warehouse_schema
from baselib.warehouse import sqlfiles

log = logging.getLogger(__name__)

# Serialises reconciles (and the per-resource rebuild) across processes: "sharing".
_RECONCILE_LOCK_KEY = 0x7368_6172_696E_67
_COMMENT_PREFIX = "baselib.sharing"
# The schemas of the engine whose relations PUBLIC must not read, besides every catalog target
# schema and the consumers' schemas. masking holds only functions, which stay PUBLIC.
ENGINE_SCHEMAS = ("catalog", "ops", "evaluation", "sharing")
REQUIRE_ACTIVE = "sharing.require_active(bigint,timestamp with time zone)"
# What the sharing_consumer group holds, whatever a consumer applied for: (kind, object, privilege).
GROUP_PRIVILEGES = frozenset({
    ("schema", "catalog", "USAGE"),
    ("relation", "catalog.resource", "SELECT"),
    ("relation", "catalog.resource_item", "SELECT"),
    ("schema", "sharing", "USAGE"),
    ("relation", "sharing.my_application", "SELECT"),
    ("relation", "sharing.my_objection", "SELECT"),
    ("routine", REQUIRE_ACTIVE, "EXECUTE"),
})


# --- views -------------------------------------------------------------------------------------


def view_name(consumer_schema: str, resource: Resource) -> str:
    """``share_<code>.<schema>__<table>``: the consumer view of ``resource`` (qualified, unquoted)."""
    target = resource.pipeline.target
    return f"{consumer_schema}.{target.schema_name}__{target.table}"


def _current_view(resource: Resource) -> str:
    return resource.pipeline.target.qualified + "_current"


def record_key_sql(resource: Resource) -> sql.Composed:
    """``concat_ws('/', "k1"::text, …)``: the record key, as ops.quarantine.record_key writes it.
    A date key is written ``to_char(k, 'YYYY-MM-DD')`` (what ``::text`` gives under the default
    DateStyle), so a consumer's own DateStyle cannot change its row keys."""
    def text(name: str) -> sql.Composed:
        item = resource.item(name)
        if item is not None and item.type is DataType.D:
            return sql.SQL("to_char({}, 'YYYY-MM-DD')").format(sql.Identifier(name))
        return sql.SQL("{}::text").format(sql.Identifier(name))
    keys = sql.SQL(", ").join(text(k) for k in resource.pipeline.key_columns)
    return sql.SQL("concat_ws('/', {})").format(keys)


def hashes_row_key(resource: Resource, personal: bool) -> bool:
    """Whether a consumer's ``_row_key`` is the hashed one: a key item is personal and the
    application does not give personal data."""
    return not personal and any(i.personal for i in resource.items if i.name in resource.pipeline.key_columns)


def gives_personal(resource: Resource, personal: bool) -> bool:
    """Raw personal items only for a personal application on a 有条件共享 resource."""
    return personal and resource.sharing.type is SharingType.conditional


def approved_columns(resource: Resource, items) -> list[str]:
    """The approved item names in catalog order (names the catalog no longer has are ignored)."""
    wanted = set(items)
    return [i.name for i in resource.items if i.name in wanted]


def _select_list(resource: Resource, consumer_code: str, items, personal: bool) -> sql.Composed:
    raw = gives_personal(resource, personal)
    record_key = record_key_sql(resource)
    if hashes_row_key(resource, raw):
        row_key = sqlfiles.compose("templates/sharing_row_key_hashed", consumer_code=sql.Literal(consumer_code),
                                   record_key=record_key)
    else:
        row_key = record_key
    parts = [sql.SQL("{} AS _row_key").format(row_key)]
    columns = approved_columns(resource, items)
    if raw:
        parts += [sql.Identifier(c) for c in columns]
    elif masking.masked_columns(resource, columns):
        parts.append(masking.select_list(resource, columns))
    parts.append(sql.SQL("loaded_at AS _loaded_at"))
    return sql.SQL(", ").join(parts)


@dataclass(frozen=True)
class _Wanted:
    """A view an active application justifies."""

    view: str
    application_id: int
    consumer_code: str
    role_name: str
    resource: Resource
    statement: sql.Composed
    fingerprint: str

    def matches(self, cur, comment: str | None) -> bool:
        """Whether the view in the warehouse is the one this would make; ``comment``: what
        sharing.consumer_view records for it (queries/sharing_grants_schema_objects)."""
        meta = _parse_comment(comment)
        return (meta.get("fingerprint") == self.fingerprint and meta.get("application") == str(self.application_id)
                and meta.get("definition") == _definition(cur, self.view))


def _wanted(cur, app: dict, resource: Resource) -> _Wanted:
    view = view_name(app["share_schema"], resource)
    statement = sqlfiles.compose(
        "templates/sharing_view",
        view=sqlfiles.ident(view),
        select_list=_select_list(resource, app["consumer_code"], app["items"], app["personal"]),
        current_view=sqlfiles.ident(_current_view(resource)),
        application_id=sql.Literal(app["application_id"]),
        ends_at=sql.SQL("{}::timestamptz").format(sql.Literal(app["ends_at"].astimezone(dt.timezone.utc).isoformat())),
    )
    fingerprint = hashlib.sha256(statement.as_string(cur).encode("utf-8")).hexdigest()[:32]
    return _Wanted(view, app["application_id"], app["consumer_code"], app["role_name"], resource, statement,
                   fingerprint)


def _parse_comment(comment: str | None) -> dict[str, str]:
    if not comment or not comment.startswith(_COMMENT_PREFIX + " "):
        return {}
    return dict(part.split("=", 1) for part in comment.split()[1:] if "=" in part)


def _q(name: str) -> str:
    return sqlfiles.text(f"queries/sharing_grants_{name}")


def _exists(cur, qualified: str) -> bool:
    cur.execute(_q("relation_exists"), (qualified,))
    return cur.fetchone()[0]


def _dicts(cur) -> list[dict]:
    names = [d.name for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _active_applications(cur, now: dt.datetime, *, consumer_code=None, resource_code=None) -> list[dict]:
    cur.execute(sqlfiles.text("queries/sharing_grants_active_applications"),
                {"now": now, "zone": policy.load().time_zone, "consumer": consumer_code,
                 "resource": resource_code})
    return _dicts(cur)


# --- the catalog -------------------------------------------------------------------------------


@dataclass
class _CatalogView:
    """The catalog as the reconcile needs it: loaded entries by code, and what is known of the
    broken ones (their codes and schemas, read leniently; ``unknown`` when a file gave neither)."""

    resources: dict[str, Resource]
    broken_codes: set[str] = field(default_factory=set)
    broken_schemas: set[str] = field(default_factory=set)
    unknown_broken: bool = False


def _catalog_view(catalog) -> _CatalogView:
    if catalog is None:
        catalog = scan_catalog()
    if isinstance(catalog, Catalog):
        resources, errors = catalog.resources, catalog.errors
    else:
        resources, errors = list(catalog), []
    view = _CatalogView({r.code: r for r in resources})
    for error in errors:
        log.warning("catalog entry broken, its consumer views are kept as they are: %s", error.message)
        code, schema = _lenient_identity(error.path)
        if code:
            view.broken_codes.add(code)
        else:
            view.unknown_broken = True
        if schema:
            view.broken_schemas.add(schema)
    return view


def _lenient_identity(path: Path) -> tuple[str | None, str | None]:
    """The ``code`` and target schema a broken entry's YAML still states, where it parses."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        target = ((data.get("pipeline") or {}).get("target") or {})
        code, schema = data.get("code"), target.get("schema")
        return (str(code) if code else None, str(schema) if schema else None)
    except Exception:  # noqa: BLE001  (a broken entry may be anything)
        return None, None


# --- the reconcile -----------------------------------------------------------------------------


class _Changes:
    """Records each change in sharing.grant_change as it is made, and keeps the list; ``failed``:
    the privileges the engine could not remove (each also recorded, action ``revoke_failed``)."""

    def __init__(self, cur, run_id: str | None):
        self.cur, self.run_id, self.made, self.failed = cur, run_id, [], []
        self._ended: set[str] = set()

    def add(self, change: GrantChange) -> None:
        audit.record(self.cur, change, self.run_id)
        self.made.append(change)
        log.info("sharing: %s %s %s (%s) — %s", change.action, change.role_name, change.object,
                 change.detail or "", change.reason)

    def fail(self, change: GrantChange) -> None:
        self.add(change)
        self.failed.append(change)
        log.error("sharing: cannot remove %s of %s on %s: %s", change.detail, change.role_name, change.object,
                  change.reason)

    def end_sessions(self, role: str, consumer_code: str | None, reason: str) -> None:
        """Before the engine takes anything from a consumer (drops or replaces one of its views,
        revokes a privilege or membership): end its sessions in this database, so that no open
        transaction keeps reading what it loses, nor holds a lock the reconcile waits for. Once
        per consumer and run; recorded (``terminate_sessions``) when there was a session."""
        if role in self._ended:
            return
        self._ended.add(role)
        ended = terminate_sessions(self.cur, role)
        if ended:
            self.add(GrantChange(role, "terminate_sessions", role, reason, consumer_code,
                                 detail=f"{ended} session(s) ended"))


# How long one statement of the reconcile waits for a lock on a view, a schema or a role before it
# gives up (SET LOCAL lock_timeout), and how often the whole reconcile is tried: a consumer (or
# anyone) holding a lock on a view cannot keep the reconcile, which holds the DDL lock the
# pipelines need, waiting longer than about attempts × lock_timeout.
LOCK_TIMEOUT = "5s"
ATTEMPTS = 3
def reconcile(conn, *, consumer_code: str | None = None, run_id: str | None = None, now: dt.datetime | None = None,
              catalog: Catalog | list[Resource] | None = None, lock_timeout: str = LOCK_TIMEOUT,
              attempts: int = ATTEMPTS) -> list[GrantChange]:
    """Make the consumer roles, schemas, views and privileges match the approved applications
    whose period covers ``now`` (default: the current time; timezone-aware), and remove what nothing
    justifies. One transaction under an advisory lock (single-flight), committed at the end;
    idempotent (a second run changes and records nothing). Returns the changes, each recorded in
    sharing.grant_change with ``run_id``.

    ``consumer_code`` narrows the run to one consumer (the group's privileges, default privileges
    and the database's privileges are still checked; PUBLIC's privileges on relations only by a full
    run). ``catalog``: a scan_catalog() result or a list of resources (default: scan_catalog()); a
    resource whose entry is broken keeps its consumer views as they are, unless their application
    has ended.

    Before it takes anything from a consumer (drops or replaces a view, revokes a privilege or a
    membership) it ends that consumer's sessions in this database (recorded as
    ``terminate_sessions``). After the two advisory locks, each statement waits at most
    ``lock_timeout`` (a PostgreSQL interval, default :data:`LOCK_TIMEOUT`) for a lock; on a lock
    timeout everything is rolled back (the DDL lock freed) and the run is tried again, ``attempts``
    times in all, then psycopg2.errors.LockNotAvailable propagates (a transient error: retry later).

    A privilege granted by a role other than the object's owner is revoked as that role (SET
    ROLE); one the engine cannot remove is recorded (``revoke_failed``), the rest is committed, and
    then SharingError names it. Raises SharingError for an unknown ``consumer_code`` or a naive
    ``now``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        raise SharingError("reconcile: now must be timezone-aware")
    cat = _catalog_view(catalog)
    for attempt in range(1, attempts + 1):
        try:
            changes = _reconcile_once(conn, consumer_code, run_id, now, cat, lock_timeout)
            break
        except psycopg2.errors.LockNotAvailable as exc:
            conn.rollback()  # lets go of the DDL lock at once: the pipelines go on
            if attempt == attempts:
                log.error("sharing reconcile: a lock was still held after %d attempts (lock_timeout %s): "
                          "nothing changed; a session holds a lock on a consumer view or role: %s",
                          attempts, lock_timeout, str(exc).strip())
                raise
            log.warning("sharing reconcile: lock not available (attempt %d of %d), trying again: %s",
                        attempt, attempts, str(exc).strip())
            time.sleep(min(attempt, 5))
        except BaseException:
            conn.rollback()
            raise
    if changes.failed:
        raise SharingError("the reconcile could not remove: " + "; ".join(
            f"{c.detail} of {c.role_name} on {c.object} ({c.reason})" for c in changes.failed)
            + ". Everything else was applied and recorded in sharing.grant_change (action revoke_failed).")
    return changes.made


def _reconcile_once(conn, consumer_code, run_id, now, cat: _CatalogView, lock_timeout: str) -> _Changes:
    with conn.cursor() as cur:
        # the DDL lock first, as schema.ensure takes it before rebuild_resource_views takes ours:
        # the reconcile never runs beside DDL that replaces the views it builds on. The two
        # advisory locks are waited for; every lock after them (views, schemas, roles) only for
        # lock_timeout, so a session holding one cannot keep the DDL lock from the pipelines.
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (warehouse_schema.DDL_LOCK_KEY,))
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_RECONCILE_LOCK_KEY,))
        cur.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
        changes = _Changes(cur, run_id)
        cur.execute(_q("view_forget"))
        cur.execute(_q("consumers"), {"consumer": None})
        every_consumer = _dicts(cur)
        consumers = [c for c in every_consumer if consumer_code is None or c["consumer_code"] == consumer_code]
        if consumer_code and not consumers:
            raise SharingError(f"unknown consumer {consumer_code!r}: declare it in the consumers file and "
                               "apply it (python -m baselib.cli sharing consumers)")
        apps = _active_applications(cur, now, consumer_code=consumer_code)
        _reconcile_group(cur, changes)
        for consumer in consumers:
            mine = [a for a in apps if a["consumer_code"] == consumer["consumer_code"]]
            _reconcile_consumer(cur, changes, consumer, mine, cat, now)
        schemas = _guarded_schemas(every_consumer, cat)
        roles = [c["role_name"] for c in consumers if c["role_exists"]] + [CONSUMER_GROUP]
        _reconcile_default_privileges(cur, changes, roles, schemas, every_consumer)
        _reconcile_database(cur, changes, roles, schemas, every_consumer)
        if consumer_code is None:
            _reconcile_public(cur, changes, schemas)
    conn.commit()
    return changes


def _reconcile_group(cur, changes: _Changes) -> None:
    desired = set(GROUP_PRIVILEGES)
    if not _exists(cur, "sharing.my_application"):
        raise SharingError("sharing.my_application is missing: apply the warehouse DDL first (schema.ensure)")
    _apply_privileges(cur, changes, CONSUMER_GROUP, None, desired,
                      "every consumer reads the published catalog and its own applications and objections")
    _reconcile_group_members(cur, changes)


def _reconcile_group_members(cur, changes: _Changes) -> None:
    """The group belongs to no other role. Its members are this warehouse's consumers, granted or
    revoked per consumer (:func:`_reconcile_consumer`); any other member is left alone, since roles
    are cluster-wide and another warehouse on the server may have consumers this one does not know."""
    cur.execute(sqlfiles.text("queries/sharing_grants_memberships"), {"roles": [CONSUMER_GROUP]})
    for row in _dicts(cur):
        if row["member_name"] == CONSUMER_GROUP:
            _revoke_membership(cur, changes, row["group_name"], CONSUMER_GROUP, None,
                               "the sharing_consumer group belongs to no other role")


def _revoke_membership(cur, changes: _Changes, group: str, member: str, consumer_code, reason: str,
                       consumer_role: str | None = None) -> None:
    if consumer_role is not None:  # the consumer loses a membership, or a role loses the consumer's
        changes.end_sessions(consumer_role, consumer_code, reason)
    cur.execute(sql.SQL("REVOKE {} FROM {} CASCADE").format(sql.Identifier(group), sql.Identifier(member)))
    changes.add(GrantChange(member, "revoke_membership", group, reason, consumer_code,
                            detail=f"{member} no longer a member of {group}"))


def _reconcile_consumer(cur, changes: _Changes, consumer: dict, apps: list[dict], cat: _CatalogView,
                        now: dt.datetime) -> None:
    code, role, schema = consumer["consumer_code"], consumer["role_name"], consumer["share_schema"]
    if not consumer["role_exists"]:
        log.warning("consumer %s has no role %s yet: apply the consumers first (consumers.apply_roles)", code, role)
        return
    active = consumer["active"]
    # memberships: the group only (an inactive consumer: none); nobody is a member of the consumer
    cur.execute(sqlfiles.text("queries/sharing_grants_memberships"), {"roles": [role]})
    in_group = False
    for row in _dicts(cur):
        if row["member_name"] == role:
            if row["group_name"] == CONSUMER_GROUP and active:
                in_group = True
                continue
            why = ("consumer is no longer declared (inactive): it keeps nothing" if not active else
                   f"a consumer role belongs to {CONSUMER_GROUP} only: not justified by any application")
            _revoke_membership(cur, changes, row["group_name"], role, code, why, consumer_role=role)
        elif row["group_name"] == role and not _is_self(cur, row["member_name"]):
            _revoke_membership(cur, changes, role, row["member_name"], code,
                               "no role may act as a consumer: not justified by any application", consumer_role=role)
    if active and not in_group:
        cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(CONSUMER_GROUP), sql.Identifier(role)))
        changes.add(GrantChange(role, "grant_membership", CONSUMER_GROUP, "a declared consumer", code,
                                detail=f"{role} member of {CONSUMER_GROUP}"))

    if active and not _schema_exists(cur, schema):
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        changes.add(GrantChange(role, "create_schema", schema, "a declared consumer's own schema", code))
    desired_views = _reconcile_views(cur, changes, consumer, apps if active else [], cat, now)
    desired = {("relation", v, "SELECT") for v in desired_views}
    if active:
        desired.add(("schema", schema, "USAGE"))
    _apply_privileges(cur, changes, role, code, desired, "a declared consumer",
                      reasons={("relation", w): f"application {aid} approved" for w, aid in desired_views.items()})
    if not active and _schema_exists(cur, schema):
        _drop_schema(cur, changes, role, code, schema)


def _is_self(cur, role: str) -> bool:
    cur.execute(_q("is_current_user"), (role,))
    return cur.fetchone()[0]


def _schema_exists(cur, schema: str) -> bool:
    cur.execute(_q("schema_exists"), (schema,))
    return cur.fetchone() is not None


def _drop_schema(cur, changes: _Changes, role: str, code: str, schema: str) -> None:
    changes.end_sessions(role, code, "consumer is no longer declared (inactive): it keeps nothing")
    cur.execute("SAVEPOINT drop_share_schema")
    try:
        cur.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(schema)))
    except Exception as exc:  # noqa: BLE001  (objects someone else put there: say so, keep going)
        cur.execute("ROLLBACK TO SAVEPOINT drop_share_schema")
        log.warning("cannot drop %s of inactive consumer %s: %s", schema, code, exc)
        return
    cur.execute("RELEASE SAVEPOINT drop_share_schema")
    changes.add(GrantChange(role, "drop_schema", schema, "consumer is no longer declared (inactive): it keeps nothing",
                            code))


def _reconcile_views(cur, changes: _Changes, consumer: dict, apps: list[dict], cat: _CatalogView,
                     now: dt.datetime) -> dict[str, int]:
    """Create, replace and drop the consumer's views; returns {view: application id} of the views
    that stay (those to grant SELECT on)."""
    code, role, schema = consumer["consumer_code"], consumer["role_name"], consumer["share_schema"]
    wanted: dict[str, _Wanted] = {}
    active_ids = {a["application_id"] for a in apps}
    for app in apps:
        resource = cat.resources.get(app["resource_code"])
        if resource is None:
            if app["resource_code"] not in cat.broken_codes and not cat.unknown_broken:
                log.warning("application %s: resource %s is not in the catalog: no view", app["application_id"],
                            app["resource_code"])
            continue
        if resource.sharing.type is SharingType.not_shared or app["sharing_type"] == SharingType.not_shared.value:
            log.warning("application %s: %s is 不予共享: no view", app["application_id"], resource.code)
            continue
        if not _exists(cur, _current_view(resource)):
            log.warning("application %s: %s does not exist yet (load the resource first): no view",
                        app["application_id"], _current_view(resource))
            continue
        w = _wanted(cur, app, resource)
        wanted[w.view] = w
    existing = _existing_views(cur, schema) if _schema_exists(cur, schema) else {}
    keep: dict[str, int] = {}
    for name, (kind, comment) in existing.items():
        meta = _parse_comment(comment)
        w = wanted.get(name)
        if w is not None and kind == "v" and w.matches(cur, comment):
            keep[name] = w.application_id
            continue
        if w is None and kind == "v" and meta and _broken(cat, meta.get("resource")) \
                and int(meta.get("application", 0)) in active_ids:
            log.warning("keeping %s as it is: the catalog entry of %s is broken", name, meta.get("resource"))
            keep[name] = int(meta["application"])
            continue
        if kind != "v":
            log.warning("%s is a %s the engine did not make: left alone, %s gets no privilege on it", name,
                        "table" if kind == "r" else f"relation of kind {kind!r}", role)
            continue
        if w is not None:
            continue  # replaced below
        why = _why_gone(cur, meta, cat, consumer["active"], now)
        changes.end_sessions(role, code, f"its view {name} goes: {why}")
        cur.execute(sql.SQL("DROP VIEW {}").format(sqlfiles.ident(name)))
        changes.add(GrantChange(role, "drop_view", name, why, code,
                                application_id=int(meta["application"]) if meta.get("application") else None))
    for name, w in wanted.items():
        if name in keep or existing.get(name, ("v",))[0] != "v":
            continue  # kept, or a table someone made under the view's name (logged above): no view
        replacing = name in existing
        if replacing:
            changes.end_sessions(role, code, f"its view {name} is replaced (application {w.application_id})")
            cur.execute(sql.SQL("DROP VIEW {}").format(sqlfiles.ident(name)))
        _create(cur, w, schema)
        columns = ", ".join(_view_columns(cur, name))
        changes.add(GrantChange(role, "replace_view" if replacing else "create_view", name,
                                f"application {w.application_id} approved", code, detail=columns,
                                application_id=w.application_id))
        keep[name] = w.application_id
    return keep


def _create(cur, w: _Wanted, schema: str) -> None:
    if not _schema_exists(cur, schema):
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    cur.execute(w.statement)
    # what the view was made from goes to sharing.consumer_view, which only the engine reads, not
    # into a COMMENT, which every role reads
    cur.execute(_q("view_record"), {"view": w.view, "application_id": w.application_id,
                                    "resource_code": w.resource.code, "fingerprint": w.fingerprint,
                                    "definition_md5": _definition(cur, w.view)})


def _definition(cur, view: str) -> str:
    """md5 of the view's definition as PostgreSQL stores it (pg_get_viewdef)."""
    cur.execute(_q("view_definition"), (view,))
    return cur.fetchone()[0] or ""


def _broken(cat: _CatalogView, resource_code: str | None) -> bool:
    return resource_code not in cat.resources and (resource_code in cat.broken_codes or cat.unknown_broken)


def _why_gone(cur, meta: dict, cat: _CatalogView, consumer_active: bool, now: dt.datetime) -> str:
    if not consumer_active:
        return "consumer is no longer declared (inactive): it keeps nothing"
    if not meta.get("application"):
        return "not justified by any application (not made by the engine)"
    cur.execute(sqlfiles.text("queries/sharing_grants_application"), (int(meta["application"]),))
    row = cur.fetchone()
    if row is None:
        return f"application {meta['application']} does not exist: not justified by any application"
    application_id, status, period_end, superseded_by, revoke_reason, _, resource_code = row
    if status == "revoked":
        return f"application {application_id} revoked: {revoke_reason or 'no reason given'}"
    if status == "superseded":
        return f"application {application_id} superseded by application {superseded_by}"
    if status == "expired":
        return f"application {application_id} expired: its period ended {period_end}"
    if status == "approved":
        resource = cat.resources.get(resource_code)
        if resource is not None and resource.sharing.type is SharingType.not_shared:
            return f"application {application_id}: {resource_code} is 不予共享 in the catalog"
        if resource is None:
            return f"application {application_id}: {resource_code} is no longer in the catalog"
        if period_end < now.astimezone(policy.load().zone).date():
            return f"application {application_id}: its period ended {period_end}"
        return f"application {application_id}: its period has not begun"
    return f"application {application_id} is {status}: not justified"


def _existing_views(cur, schema: str) -> dict[str, tuple[str, str | None]]:
    cur.execute(sqlfiles.text("queries/sharing_grants_schema_objects"), (schema,))
    return {f"{schema}.{name}": (kind, comment) for name, kind, comment in cur.fetchall()}


def _view_columns(cur, qualified: str) -> list[str]:
    cur.execute(_q("view_columns"), (qualified,))
    return [r[0] for r in cur.fetchall()]


# --- privileges --------------------------------------------------------------------------------

_ON = {"relation": "TABLE", "column": "TABLE", "sequence": "SEQUENCE", "schema": "SCHEMA", "routine": "ROUTINE"}


def _normal(kind: str, obj: str) -> str:
    """Object names as the inventory writes them, compared unquoted (engine names need no quotes)."""
    return obj.replace('"', "")


def _target(kind: str, obj: str) -> sql.Composable:
    if kind == "routine":
        return sql.SQL(obj)  # regprocedure text from the catalog, already quoted by PostgreSQL
    if kind == "schema":
        return sql.Identifier(obj)
    return sqlfiles.ident(obj)


def _inventory(cur, role: str) -> list[dict]:
    cur.execute(sqlfiles.text("queries/sharing_grants_privileges"), {"roles": [role]})
    return _dicts(cur)


def _apply_privileges(cur, changes: _Changes, role: str, consumer_code: str | None, desired: set[tuple],
                      reason: str, reasons: dict | None = None) -> None:
    """Grant what ``desired`` ({(kind, object, privilege)}) lacks, revoke what it does not hold,
    the grant option included, and any privilege granted by a role other than the object's owner
    (revoked as that role); record each change. What is still there afterwards is recorded as
    ``revoke_failed`` (see :func:`reconcile`). A consumer's sessions end before it loses anything."""
    reasons = reasons or {}
    held: set[tuple] = set()
    for row in _inventory(cur, role):
        kind, obj, column = row["kind"], _normal(row["kind"], row["object"]), row["column_name"]
        priv, grantable, grantor, by_owner = row["privilege_type"], row["is_grantable"], row["grantor"], row["by_owner"]
        key = (kind, obj, priv)
        target = sql.SQL("{} {}").format(sql.SQL(_ON[kind]), _target(kind, row["object"]))
        if column is None and key in desired and by_owner:
            held.add(key)
            if grantable:
                _end_sessions_of(changes, role, consumer_code)
                _revoke(cur, changes, grantor, by_owner, sql.SQL("REVOKE GRANT OPTION FOR {} ON {} FROM {} CASCADE").format(
                    sql.SQL(priv), target, sql.Identifier(role)),
                    GrantChange(role, "revoke", obj, "the grant option is not justified by any application",
                                consumer_code, detail=f"GRANT OPTION FOR {priv}"))
            continue
        _end_sessions_of(changes, role, consumer_code)
        by = "" if by_owner else f" granted by {grantor}"
        if column is not None:
            statement = sql.SQL("REVOKE {} ({}) ON {} FROM {} CASCADE").format(
                sql.SQL(priv), sql.Identifier(column), target, sql.Identifier(role))
            detail = f"{priv} ({column})" + (" WITH GRANT OPTION" if grantable else "") + by
            kind_name = "column"
        else:
            statement = sql.SQL("REVOKE {} ON {} FROM {} CASCADE").format(sql.SQL(priv), target, sql.Identifier(role))
            detail = priv + (" WITH GRANT OPTION" if grantable else "") + by
            kind_name = kind
        why = (f"not justified by any application ({kind_name} privilege)" if by_owner else
               f"granted by {grantor}, not by the engine: not justified by any application ({kind_name} privilege)")
        _revoke(cur, changes, grantor, by_owner, statement,
                GrantChange(role, "revoke", obj, why, consumer_code, detail=detail))
    for kind, obj, priv in sorted(desired - held):
        target = sql.SQL("{} {}").format(sql.SQL(_ON[kind]), _target(kind, obj))
        cur.execute(sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(priv), target, sql.Identifier(role)))
        changes.add(GrantChange(role, "grant", obj, reasons.get((kind, obj), reason), consumer_code, detail=priv,
                                application_id=_application_of(reasons.get((kind, obj)))))
    # verify: whatever is left beyond what is desired (granted by the owner, no grant option) failed
    for row in _inventory(cur, role):
        kind, obj, column = row["kind"], _normal(row["kind"], row["object"]), row["column_name"]
        if (column is None and (kind, obj, row["privilege_type"]) in desired and row["by_owner"]
                and not row["is_grantable"]):
            continue
        changes.fail(GrantChange(role, "revoke_failed", obj,
                                 f"still held after REVOKE (granted by {row['grantor']}): the engine must own the "
                                 f"object or be a member of {row['grantor']}", consumer_code,
                                 detail=row["privilege_type"] + (f" ({column})" if column else "")))


def _end_sessions_of(changes: _Changes, role: str, consumer_code: str | None) -> None:
    if consumer_code is not None:
        changes.end_sessions(role, consumer_code, "the consumer loses a view, privilege or membership")


def _revoke(cur, changes: _Changes | None, grantor: str, by_owner: bool, statement: sql.Composable,
            change: GrantChange | None = None) -> bool:
    """Run a REVOKE as the owner (the engine), or, for a grant another role made, as that role: a
    REVOKE only removes what its issuer granted; then record ``change``. Returns whether the
    REVOKE ran. When the engine may not act as the grantor the REVOKE is skipped and nothing is
    recorded here; the check after it records the failure (``revoke_failed``). The session's role
    is the one it had before (``SET ROLE`` of an engine login acting as the warehouse owner stays)."""
    if by_owner:
        cur.execute(statement)
    else:
        cur.execute("SELECT current_setting('role')")
        (role_before,) = cur.fetchone()
        cur.execute("SAVEPOINT revoke_as_grantor")
        try:
            cur.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(grantor)))
            cur.execute(statement)
        except psycopg2.errors.InsufficientPrivilege as exc:
            cur.execute("ROLLBACK TO SAVEPOINT revoke_as_grantor")
            log.warning("cannot act as %s to revoke its grant: %s", grantor, str(exc).strip())
            return False
        cur.execute("SELECT set_config('role', %s, true)", (role_before,))
        cur.execute("RELEASE SAVEPOINT revoke_as_grantor")
    if change is not None and changes is not None:
        changes.add(change)
    return True


def _application_of(reason: str | None) -> int | None:
    if reason and reason.startswith("application "):
        return int(reason.split()[1])
    return None


def _guarded_schemas(consumers: list[dict], cat: _CatalogView) -> list[str]:
    """The engine's schemas, every catalog target schema (broken entries' included) and every
    consumer's schema: where PUBLIC reads and creates nothing."""
    schemas = set(ENGINE_SCHEMAS) | {r.pipeline.target.schema_name for r in cat.resources.values()}
    schemas |= cat.broken_schemas | {c["share_schema"] for c in consumers}
    return sorted(schemas)


def _consumer_of(consumers: list[dict], role: str) -> str | None:
    return next((c["consumer_code"] for c in consumers if c["role_name"] == role), None)


_DEFAULT_OBJECTS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}


def _reconcile_default_privileges(cur, changes: _Changes, roles: list[str], schemas: list[str],
                                  consumers: list[dict]) -> None:
    """Remove default privileges (ALTER DEFAULT PRIVILEGES) that would give the consumer roles or
    the group (in any schema) or PUBLIC (in the guarded schemas) objects created later."""
    cur.execute(_q("default_privileges"), {"roles": roles, "schemas": schemas})
    for row in _dicts(cur):
        grantee = sql.SQL("PUBLIC") if row["grantee"] == "PUBLIC" else sql.Identifier(row["grantee"])
        where = sql.SQL(" IN SCHEMA {}").format(sql.Identifier(row["schema"])) if row["schema"] else sql.SQL("")
        code = _consumer_of(consumers, row["grantee"])
        if code is not None:
            changes.end_sessions(row["grantee"], code, "the consumer loses a default privilege")
        cur.execute("SAVEPOINT revoke_default")
        try:
            cur.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}{} REVOKE ALL ON {} FROM {}").format(
                sql.Identifier(row["owner"]), where, sql.SQL(_DEFAULT_OBJECTS[row["objtype"]]), grantee))
        except psycopg2.errors.InsufficientPrivilege as exc:
            cur.execute("ROLLBACK TO SAVEPOINT revoke_default")
            log.warning("cannot alter the default privileges of %s: %s", row["owner"], str(exc).strip())
            continue  # the check below records it as revoke_failed
        cur.execute("RELEASE SAVEPOINT revoke_default")
        changes.add(GrantChange(row["grantee"], "revoke", row["schema"] or "(all schemas)",
                                "default privileges: not justified by any application", code,
                                detail=f"DEFAULT {row['privileges']} ON {_DEFAULT_OBJECTS[row['objtype']]} "
                                       f"FOR ROLE {row['owner']}"))
    cur.execute(_q("default_privileges"), {"roles": roles, "schemas": schemas})
    for row in _dicts(cur):
        changes.fail(GrantChange(row["grantee"], "revoke_failed", row["schema"] or "(all schemas)",
                                 f"default privileges of {row['owner']} still there: the engine must be a member "
                                 f"of {row['owner']}", _consumer_of(consumers, row["grantee"]),
                                 detail=f"DEFAULT {row['privileges']} ON {_DEFAULT_OBJECTS[row['objtype']]}"))


def _reconcile_database(cur, changes: _Changes, roles: list[str], schemas: list[str], consumers: list[dict]) -> None:
    """Consumers, the group and PUBLIC hold CONNECT on this database and nothing else: no CREATE
    (schemas of their own) and no TEMPORARY (temporary tables and views, through which a consumer
    would read shared data unmeasured); PUBLIC holds no CREATE on a guarded schema. The owner of
    the database (the engine, whose pipelines use temporary tables) keeps its own privileges."""
    database = sql.Identifier(_current_database(cur))
    cur.execute(_q("database_privileges"), {"roles": roles, "include_public": True})
    for row in _dicts(cur):
        code = _consumer_of(consumers, row["grantee"])
        if code is not None:
            changes.end_sessions(row["grantee"], code, "the consumer loses a database privilege")
        grantee = sql.SQL("PUBLIC") if row["grantee"] == "PUBLIC" else sql.Identifier(row["grantee"])
        _revoke(cur, changes, row["grantor"], row["by_owner"], sql.SQL("REVOKE {} ON DATABASE {} FROM {} CASCADE").format(
            sql.SQL(row["privilege_type"]), database, grantee),
            GrantChange(row["grantee"], "revoke", f"database {_current_database(cur)}",
                        "consumers connect to the warehouse and nothing more: not justified by any application",
                        code, detail=row["privilege_type"]))
    cur.execute(_q("database_privileges"), {"roles": roles, "include_public": True})
    for row in _dicts(cur):
        changes.fail(GrantChange(row["grantee"], "revoke_failed", f"database {_current_database(cur)}",
                                 f"still held (granted by {row['grantor']}): the engine must own the database",
                                 _consumer_of(consumers, row["grantee"]), detail=row["privilege_type"]))
    guarded = [*schemas, "public"]
    cur.execute(_q("public_schema_create"), {"schemas": guarded})
    for row in _dicts(cur):
        _revoke(cur, changes, row["grantor"], row["by_owner"], sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC CASCADE")
                .format(sql.Identifier(row["schema"])),
                GrantChange("PUBLIC", "revoke", row["schema"],
                            "nobody creates objects in the engine's schemas: not justified by any application",
                            None, detail="CREATE"))
    cur.execute(_q("public_schema_create"), {"schemas": guarded})
    for row in _dicts(cur):
        changes.fail(GrantChange("PUBLIC", "revoke_failed", row["schema"],
                                 f"still held (granted by {row['grantor']})", None, detail="CREATE"))


def _current_database(cur) -> str:
    cur.execute("SELECT current_database()")
    return cur.fetchone()[0]


def _reconcile_public(cur, changes: _Changes, schemas: list[str]) -> None:
    """PUBLIC reads no table or view of the engine's schemas, the catalog's target schemas and
    the consumers' schemas."""
    cur.execute(_q("public"), {"schemas": schemas})
    for obj, kind, privileges, grantor, by_owner in cur.fetchall():
        _revoke(cur, changes, grantor, by_owner, sql.SQL("REVOKE ALL ON {} {} FROM PUBLIC CASCADE").format(
            sql.SQL(_ON[kind]), sql.SQL(obj)),
            GrantChange("PUBLIC", "revoke", _normal(kind, obj),
                        "PUBLIC reads nothing of the engine's schemas: not justified by any application",
                        None, detail=privileges + ("" if by_owner else f" granted by {grantor}")))
    cur.execute(_q("public"), {"schemas": schemas})
    for obj, kind, privileges, grantor, _ in cur.fetchall():
        changes.fail(GrantChange("PUBLIC", "revoke_failed", _normal(kind, obj),
                                 f"still held (granted by {grantor})", None, detail=privileges))


# --- the per-resource rebuild (baselib.warehouse.schema) ---------------------------------------


def dependent_views(cur, relation: str) -> list[str]:
    """The consumer views (``share_<code>.<view>``) built on ``relation`` (e.g. a current view),
    which must be dropped with it; empty when the sharing DDL is not applied."""
    if not _exists(cur, "sharing.consumer"):
        return []
    cur.execute(sqlfiles.text("queries/sharing_grants_dependent_views"), (relation,))
    return [r[0] for r in cur.fetchall()]


def rebuild_resource_views(cur, resource: Resource, dropped: list[str] = (), *, run_id: str | None = None,
                           now: dt.datetime | None = None) -> list[GrantChange]:
    """In the caller's transaction (schema.ensure, under its DDL lock): after
    ``<schema>.<table>_current`` was recreated (``dropped``: the consumer views that went with it),
    recreate the views the active applications on ``resource`` justify, with their SELECT grants;
    for a resource that is 不予共享, drop every consumer view on it. Records each change
    (``replace_view`` for a view rebuilt, ``drop_view`` for one nothing justifies now) and
    returns them. A no-op when the sharing DDL is not applied."""
    if not _exists(cur, "sharing.consumer"):
        return []
    now = now or dt.datetime.now(dt.timezone.utc)
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_RECONCILE_LOCK_KEY,))
    cur.execute(_q("view_forget"))
    changes = _Changes(cur, run_id)
    current = _current_view(resource)
    rebuilt: set[str] = set()
    if resource.sharing.type is SharingType.not_shared:
        for view in dependent_views(cur, current):
            cur.execute(_q("schema_consumer"), (view.split(".")[0],))
            owner = cur.fetchone()
            if owner:
                changes.end_sessions(owner[1], owner[0], f"{resource.code} is 不予共享 in the catalog")
            cur.execute(sql.SQL("DROP VIEW {}").format(sqlfiles.ident(view)))
            dropped = [*dropped, view]
        reason = f"{resource.code} is 不予共享 in the catalog"
    elif _exists(cur, current):
        reason = f"{current} was recreated and no active application justifies this view"
        for app in _active_applications(cur, now, resource_code=resource.code):
            cur.execute(_q("role_exists"), (app["role_name"],))
            if cur.fetchone() is None:
                continue
            w = _wanted(cur, app, resource)
            existed = _exists(cur, w.view)
            if existed:
                comment = _existing_views(cur, app["share_schema"]).get(w.view, ("v", None))[1]
                if w.matches(cur, comment):
                    rebuilt.add(w.view)
                    continue
                cur.execute(sql.SQL("DROP VIEW {}").format(sqlfiles.ident(w.view)))
            _create(cur, w, app["share_schema"])
            cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sqlfiles.ident(w.view),
                                                                 sql.Identifier(app["role_name"])))
            action = "replace_view" if existed or w.view in dropped else "create_view"
            changes.add(GrantChange(app["role_name"], action, w.view,
                                    f"application {w.application_id} approved; {current} was recreated",
                                    app["consumer_code"], detail=", ".join(_view_columns(cur, w.view)),
                                    application_id=w.application_id))
            rebuilt.add(w.view)
    else:
        reason = f"{current} does not exist"
    for view in dropped:
        if view not in rebuilt:
            cur.execute(_q("schema_consumer"), (view.split(".")[0],))
            row = cur.fetchone()
            changes.add(GrantChange(row[1] if row else view.split(".")[0], "drop_view", view, reason,
                                    row[0] if row else None))
    return changes.made


# --- row keys ----------------------------------------------------------------------------------


def resolve_row_key(cur, consumer_code: str, resource: Resource, row_key: str, *,
                    now: dt.datetime | None = None) -> str | None:
    """The record key (``concat_ws('/', key columns::text)``) that ``row_key``, a ``_row_key``
    value ``consumer_code`` read from its view of ``resource``, stands for; None when no key ever
    loaded matches. A hashed key is matched by hashing every loaded key (a scan of the open
    versions, deleted keys included). A raw key of a resource whose key is personal is accepted
    only while the consumer sees raw keys: its application active at ``now`` (default: the current
    time) gives personal data; an earlier personal application (revoked, expired, superseded) does
    not."""
    base = sqlfiles.ident(resource.pipeline.target.qualified)
    record_key = record_key_sql(resource)
    if any(i.personal for i in resource.items if i.name in resource.pipeline.key_columns):
        hashed = sqlfiles.compose("templates/sharing_row_key_hashed", consumer_code=sql.Placeholder("consumer"),
                                  record_key=sql.SQL("k.record_key"))
        cur.execute(sql.SQL("SELECT k.record_key FROM (SELECT DISTINCT {} AS record_key FROM {}) AS k "
                            "WHERE {} = %(row_key)s LIMIT 1").format(record_key, base, hashed),
                    {"consumer": consumer_code, "row_key": row_key})
        row = cur.fetchone()
        if row:
            return row[0]
        active = _active_applications(cur, now or dt.datetime.now(dt.timezone.utc), consumer_code=consumer_code,
                                      resource_code=resource.code)
        if not any(gives_personal(resource, a["personal"]) for a in active):
            return None
    cur.execute(sql.SQL("SELECT {} FROM {} WHERE {} = %s LIMIT 1").format(record_key, base, record_key), (row_key,))
    row = cur.fetchone()
    return row[0] if row else None


# --- what each consumer can read ---------------------------------------------------------------


@dataclass(frozen=True)
class ViewColumn:
    """A column of a consumer view; ``mark``: "row key", "row key (hashed)", "raw",
    "masked (<rule>)" or "load time"."""

    name: str
    mark: str


@dataclass(frozen=True)
class SharedView:
    """One consumer view: ``view`` qualified, the resource, the application that justifies it and
    ``access_ends`` (timezone-aware: 00:00 Asia/Shanghai after the period's last day)."""

    view: str
    resource_code: str
    resource_name: str
    application_id: int | None
    access_ends: dt.datetime | None
    columns: list[ViewColumn]


@dataclass(frozen=True)
class ConsumerAccess:
    """What one consumer can log in as and read."""

    consumer_code: str
    consumer_name: str
    department_name: str
    role_name: str
    can_login: bool
    active: bool
    share_schema: str
    views: list[SharedView]


def describe_access(conn, *, consumer_code: str | None = None, catalog=None) -> list[ConsumerAccess]:
    """Per consumer (all, or ``consumer_code``): its role, whether it can log in, its schema and
    the views in it as they are in the warehouse now, each column marked. Raises SharingError for
    an unknown ``consumer_code``."""
    cat = _catalog_view(catalog)
    out = []
    idle = conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    with conn.cursor() as cur:
        cur.execute(sqlfiles.text("queries/sharing_grants_consumers"), {"consumer": consumer_code})
        consumers = _dicts(cur)
        if consumer_code and not consumers:
            raise SharingError(f"unknown consumer {consumer_code!r}")
        for c in consumers:
            views = []
            existing = _existing_views(cur, c["share_schema"]) if _schema_exists(cur, c["share_schema"]) else {}
            for name, (kind, comment) in existing.items():
                if kind != "v":
                    continue
                meta = _parse_comment(comment)
                views.append(_describe_view(cur, name, meta, cat))
            out.append(ConsumerAccess(c["consumer_code"], c["consumer_name"], c["department_name"], c["role_name"],
                                      c["can_login"], c["active"], c["share_schema"], views))
    if idle and not conn.autocommit:
        conn.rollback()  # end the read-only transaction this opened
    return out


def _describe_view(cur, name: str, meta: dict, cat: _CatalogView) -> SharedView:
    application_id = int(meta["application"]) if meta.get("application") else None
    resource = cat.resources.get(meta.get("resource", ""))
    personal, ends = False, None
    if application_id is not None:
        cur.execute(_q("application_access"), {"zone": policy.load().time_zone, "application_id": application_id})
        row = cur.fetchone()
        if row:
            personal, ends = row
    raw = resource is not None and gives_personal(resource, personal)
    columns = []
    for column in _view_columns(cur, name):
        item = resource.item(column) if resource else None
        if column == "_row_key":
            mark = "row key (hashed)" if resource and hashes_row_key(resource, raw) else "row key"
        elif column == "_loaded_at":
            mark = "load time"
        elif item is not None and item.personal and not raw:
            mark = f"masked ({item.mask})"
        else:
            mark = "raw"
        columns.append(ViewColumn(column, mark))
    return SharedView(name, meta.get("resource", "?"), resource.name if resource else "?", application_id, ends,
                      columns)


def format_access(accesses: list[ConsumerAccess]) -> str:
    """A plain-text summary for the CLI and the demo: per consumer its login role, its schema and
    per view the resource, the columns with their marks, the application and when access ends."""
    lines = []
    for a in accesses:
        login = "can log in" if a.can_login else "cannot log in (NOLOGIN)"
        state = "" if a.active else ", no longer declared"
        lines.append(f"{a.consumer_code} ({a.consumer_name}, {a.department_name}){state}")
        lines.append(f"  login role {a.role_name} ({login}); search_path {a.share_schema}, catalog")
        if not a.views:
            lines.append(f"  {a.share_schema}: no views (no approved application in its period)")
        for v in a.views:
            ends = v.access_ends.astimezone(policy.load().zone).strftime("%Y-%m-%d %H:%M") if v.access_ends else "?"
            lines.append(f"  {v.view}: {v.resource_code} {v.resource_name}, application {v.application_id}, "
                         f"access ends {ends} Asia/Shanghai")
            lines.append("    " + ", ".join(f"{c.name} [{c.mark}]" for c in v.columns))
    return "\n".join(lines)
