"""Data objections (数据异议): a consumer says a value it was shared is wrong; the provider checks it.

Lifecycle of a row of ``sharing.objection`` (include/sql/ddl/072_sharing_use.sql):

- ``open``: raised by a consumer (:func:`raise_objection`) about one item of one row of a resource
  it may read now (an approved application covering today that includes the item), routed to the
  resource's provider, due for an answer within ``objection_answer`` working days
  (include/sharing/policy.yaml; ``answer_due_at``);
- ``confirmed`` (:func:`confirm`): the provider agrees; the value must be corrected by a load
  within ``objection_correction`` working days of the confirmation (``correction_due_at``);
- ``rejected`` (:func:`reject`): the provider disagrees, always with a reason;
- ``resolved``: a confirmed objection becomes resolved inside the transaction of the first load
  whose new version of the row changes the item objected to, or that deletes the row at the
  source (a tombstone: the wrong value is no longer served) (:func:`resolve_by_load` and
  :func:`resolve_deleted`, called by :mod:`baselib.loading.merge`; ``resolved_at`` is that load's
  instant, ``resolved_by_load_id`` its load). An open objection is not resolved by a load, nor is
  a confirmed one by a load that leaves the item as it was. A correction loaded while the
  objection was still open is found by :func:`confirm`, which then marks it resolved by that load
  at once.

One objection per consumer, resource, row and item is pending (open or confirmed) at a time:
raising it again raises :class:`ObjectionAlreadyRaised` naming the pending one. An objection is
about a value, never about a key item (a corrected key is another row). A consumer that sees a
resource's rows under hashed ``_row_key`` values (a personal key item, an application without personal
data) names the row by that ``_row_key`` only: a raw record key from it is refused, the same way
whether or not the key exists, so objections cannot tell it which personal keys exist.

Overdue: open at or after ``answer_due_at``, or confirmed at or after ``correction_due_at``.
Times are counted with the policy's working-day calendar (:mod:`baselib.sharing.policy`) and in
hours, from raising to the answer and from raising to the resolution. Per provider, the counts
flow into ``evaluation.objection_outcome`` for the evaluation.

Every function takes a warehouse connection whose shared DDL is applied, commits its own work
and raises :class:`~baselib.errors.SharingError` (nothing written) for a request it cannot carry
out. ``now`` is a timezone-aware instant, for tests; the default is the current time.
"""
from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field, fields

import psycopg2.errors
from psycopg2 import sql

from baselib.catalog.model import Resource
from baselib.errors import SharingError
from baselib.sharing import policy
from baselib.warehouse import schema, sqlfiles
from baselib.warehouse.transactions import transaction

UTC = dt.timezone.utc
STATUSES = ("open", "confirmed", "rejected", "resolved")
LIST_STATUSES = (*STATUSES, "overdue")
# first half of the two-int advisory lock key serialising raises of one objection ("obje"); the
# second is hashtext of consumer, resource, record key and item
LOCK_CLASS = 0x6F626A65


class ObjectionAlreadyRaised(SharingError):
    """The consumer already has this objection pending (open or confirmed): the same consumer,
    resource, row and item. ``objection_id`` and ``status``: the pending one's."""

    def __init__(self, message: str, objection_id: int, status: str):
        super().__init__(message)
        self.objection_id = objection_id
        self.status = status


@dataclass(frozen=True)
class Objection:
    """One row of ``sharing.objection`` judged at ``as_of`` (not a column). ``*_at``: aware
    instants; ``record_key``: the row's key as ``ops.quarantine.record_key``; ``row_key``: the key
    the consumer gave, when it gave its ``_row_key``."""

    objection_id: int
    consumer_code: str
    resource_code: str
    provider_code: str
    record_key: str
    row_key: str | None
    item_name: str
    value_seen: str | None
    value_expected: str
    evidence: str
    status: str
    raised_at: dt.datetime
    answer_due_at: dt.datetime
    answered_at: dt.datetime | None
    answered_by: str | None
    answer_reason: str | None
    correction_due_at: dt.datetime | None
    resolved_at: dt.datetime | None
    resolved_by_load_id: int | None
    as_of: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC), compare=False, repr=False)

    @property
    def overdue(self) -> bool:
        """Open at or after ``answer_due_at``, or confirmed at or after ``correction_due_at``."""
        if self.status == "open":
            return self.as_of >= self.answer_due_at
        return self.status == "confirmed" and self.as_of >= self.correction_due_at

    @property
    def working_days_to_answer(self) -> int | None:
        """Working days from raising to the answer (0: the same day); None while open."""
        return None if self.answered_at is None else _calendar().working_days_between(self.raised_at, self.answered_at)

    @property
    def hours_to_answer(self) -> float | None:
        return None if self.answered_at is None else _hours(self.raised_at, self.answered_at)

    @property
    def working_days_to_resolution(self) -> int | None:
        """Working days from raising to the resolving load; None until resolved."""
        return None if self.resolved_at is None else _calendar().working_days_between(self.raised_at, self.resolved_at)

    @property
    def hours_to_resolution(self) -> float | None:
        return None if self.resolved_at is None else _hours(self.raised_at, self.resolved_at)

    @property
    def answered_on_time(self) -> bool | None:
        """Answered by ``answer_due_at``; False once overdue unanswered; None while there is time."""
        if self.answered_at is not None:
            return self.answered_at <= self.answer_due_at
        return False if self.overdue else None

    @property
    def resolved_on_time(self) -> bool | None:
        """Resolved by ``correction_due_at``; False once a confirmed one is overdue; else None."""
        if self.resolved_at is not None:
            return self.resolved_at <= self.correction_due_at
        return False if self.status == "confirmed" and self.overdue else None


COLUMNS = [f.name for f in fields(Objection) if f.name != "as_of"]


def _calendar() -> policy.WorkingCalendar:
    return policy.load().calendar


def _hours(start: dt.datetime, end: dt.datetime) -> float:
    return round((end - start).total_seconds() / 3600.0, 1)


def _rows(cur, now: dt.datetime) -> list[Objection]:
    return [Objection(*row, as_of=now) for row in cur.fetchall()]


def _get(cur, objection_id: int, now: dt.datetime, *, lock: bool = False) -> Objection:
    cur.execute(sqlfiles.text("queries/sharing_objection_get") + (" FOR UPDATE" if lock else ""),
                {"objection_id": objection_id})
    found = _rows(cur, now)
    if not found:
        raise SharingError(f"no data objection {objection_id}: `python -m baselib.cli objection list` lists them")
    return found[0]


def get(conn, objection_id: int, *, now: dt.datetime | None = None) -> Objection:
    """The objection. Raises SharingError when there is none with that id."""
    now = policy.instant(now)
    with transaction(conn) as cur:
        return _get(cur, objection_id, now)


# -- raising ------------------------------------------------------------------------------------


def _required(value: str | None, what: str) -> str:
    if value is None or not str(value).strip():
        raise SharingError(f"{what} is required")
    return str(value).strip()


def _check_consumer(cur, consumer_code: str) -> None:
    cur.execute(sqlfiles.text("queries/sharing_app_consumer"), {"consumer_code": consumer_code})
    row = cur.fetchone()
    if row is None:
        cur.execute(sqlfiles.text("queries/sharing_app_declared_consumers"))
        declared = ", ".join(r[0] for r in cur.fetchall()) or "none yet"
        raise SharingError(f"unknown consumer {consumer_code!r}: the declared consumers are {declared}")
    if not row[1]:
        raise SharingError(f"consumer {consumer_code!r} is no longer declared (inactive): it reads nothing, so it "
                           "cannot raise an objection")


def _check_item(resource: Resource, item: str, application) -> None:
    found = resource.item(item)
    if found is None:
        names = [i.name for i in resource.items]
        close = difflib.get_close_matches(item, names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise SharingError(f"unknown item {item!r} of {resource.code} ({resource.pipeline.target.qualified}): "
                           f"{hint}its items are {', '.join(names)}")
    keys = resource.pipeline.key_columns
    if item in keys:
        raise SharingError(f"item {item!r} is part of the key of {resource.code} ({resource.pipeline.target.qualified}: "
                           f"{'/'.join(keys)}): a data objection corrects a value of a row, and a corrected key is "
                           f"another row; tell the provider {resource.provider.name} ({resource.provider.code}) of "
                           "the wrong row directly")
    if item not in application.items:
        raise SharingError(f"item {item!r} is not among the items application {application.application_id} "
                           f"shares with {application.consumer_code} ({', '.join(application.items)}): an "
                           "objection is about a value the consumer was shared")
    if found.personal and found.mask is None and not application.personal:
        raise SharingError(f"item {item!r} is personal without a masking rule and application "
                           f"{application.application_id} does not include personal data: the consumer is not "
                           "shared its value")


def _hashed_keys(resource: Resource, application) -> bool:
    """Whether the consumer of ``application`` (its active one) sees ``resource``'s rows under a
    hashed ``_row_key``: a key item is personal and the application does not give personal data (a
    personal application on a resource that is no longer 有条件共享 does not)."""
    from baselib.sharing import grants  # the views' own rule, so both always agree

    return grants.hashes_row_key(resource, grants.gives_personal(resource, application.personal))


def _hashed(cur, consumer_code: str, record_key: str) -> str:
    cur.execute(sql.SQL("SELECT {}").format(sqlfiles.compose(
        "templates/sharing_row_key_hashed", consumer_code=sql.Placeholder("consumer_code"),
        record_key=sql.SQL("%(record_key)s::text"))), {"consumer_code": consumer_code, "record_key": record_key})
    return cur.fetchone()[0]


def _record_key(cur, resource: Resource, application, record_key: str | None, row_key: str | None) -> str:
    """The record key of the row the consumer names. Whatever the consumer gives, the error it gets
    tells it nothing it cannot read itself: with hashed row keys, a raw record key is refused before
    anything is looked up, and a row key is accepted only as the hash of a key (a raw key given as
    the row key fails as an unknown row key does)."""
    consumer_code = application.consumer_code
    target = f"{resource.code} ({resource.pipeline.target.qualified})"
    if (record_key is None) == (row_key is None):
        raise SharingError("give the row's key: either its record key (key columns joined by '/') or the _row_key "
                           "the consumer's view shows, not both")
    hashed = _hashed_keys(resource, application)
    if record_key is not None and hashed:
        personal = ", ".join(k for k in resource.pipeline.key_columns if resource.item(k).personal)
        raise SharingError(f"{consumer_code} sees the rows of {target} under a hashed _row_key (key item {personal} is "
                           f"personal and application {application.application_id} does not include personal data): "
                           "name the row by the _row_key the consumer's view shows (--row-key), not by its record key")
    if row_key is not None:
        from baselib.sharing import grants

        row_key = _required(row_key, "the row key")
        resolved = grants.resolve_row_key(cur, consumer_code, resource, row_key)
        if resolved is not None and hashed and _hashed(cur, consumer_code, resolved) != row_key:
            resolved = None  # a raw key where the consumer's view shows hashed ones
        if resolved is None:
            raise SharingError(f"row key {row_key!r} is not a row of {target} as {consumer_code} sees it: copy "
                               "_row_key from the consumer's view")
        record_key = resolved
    record_key = _required(record_key, "the record key")
    from baselib.sharing import grants

    cur.execute(sqlfiles.compose("queries/sharing_objection_key_exists",
                                 current=sqlfiles.ident(schema.current_view(resource)),
                                 record_key=grants.record_key_sql(resource)), {"record_key": record_key})
    if cur.fetchone() is None:
        if row_key is not None:
            raise SharingError(f"no current row of {target} has the row key {row_key!r}: it was deleted at the source")
        raise SharingError(f"no current row of {target} has the key {record_key!r} "
                           f"({'/'.join(resource.pipeline.key_columns)})")
    return record_key


def _refuse_pending(cur, consumer_code: str, resource: Resource, record_key: str, item: str,
                    shown_key: str) -> None:
    """Raise ObjectionAlreadyRaised when the consumer has this objection pending. Serialised per
    objection by an advisory lock held until the caller's transaction ends."""
    cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                (LOCK_CLASS, "\x1f".join((consumer_code, resource.code, record_key, item))))
    cur.execute(sqlfiles.text("queries/sharing_objection_pending"), {
        "consumer_code": consumer_code, "resource_code": resource.code, "record_key": record_key, "item_name": item})
    row = cur.fetchone()
    if row is not None:
        objection_id, status = row
        raise ObjectionAlreadyRaised(
            f"already raised: objection {objection_id} ({status}) is {consumer_code}'s objection to item {item!r} of "
            f"the row {shown_key} of {resource.code}; it stays pending until it is rejected or resolved "
            f"(`objection list --consumer {consumer_code}`)", objection_id, status)


def raise_objection(conn, *, consumer_code: str, resource_code: str, item: str, value_seen: str | None,
                    value_expected: str, evidence: str, record_key: str | None = None, row_key: str | None = None,
                    now: dt.datetime | None = None, catalog: list[Resource] | None = None) -> Objection:
    """Record an objection of ``consumer_code`` to the value of ``item`` in the row of
    ``resource_code`` (a catalog code or the target "schema.table") whose key is ``record_key``
    (key columns as text joined by '/', as ``ops.quarantine.record_key``) or, instead, whose
    ``_row_key`` as the consumer saw it is ``row_key`` (mapped back through
    :func:`baselib.sharing.grants.resolve_row_key`). A consumer whose view shows hashed row keys
    (a personal key item, its active application without personal data) must give ``row_key``.
    ``value_seen``: the value the consumer read (masked if it was); ``value_expected`` and
    ``evidence`` are required. Routed to the resource's provider, due in ``objection_answer``
    working days. Raises SharingError for an unknown or inactive consumer, an unknown resource or
    item, a key item, no approved application covering today, an item that application does not
    share, a raw record key from a consumer that sees hashed keys, a key that is no current row;
    :class:`ObjectionAlreadyRaised` (a SharingError) when the same consumer already has an open
    or confirmed objection to the same item of the same row."""
    from baselib.sharing import applications

    now = policy.instant(now)
    consumer_code = _required(consumer_code, "the consumer")
    item = _required(item, "the item")
    value_expected = _required(value_expected, "the value believed right (--expected)")
    evidence = _required(evidence, "the evidence")
    if value_seen is not None and value_seen.strip() == value_expected:
        raise SharingError(f"the value seen and the value believed right are both {value_expected!r}: "
                           "an objection is about a value that differs from the right one")
    resource = applications.find_resource(_required(resource_code, "the resource"), catalog)
    with transaction(conn) as cur:
        _check_consumer(cur, consumer_code)
    granted = [a for a in applications.active(conn, now=now, consumer_code=consumer_code)
               if a.resource_code == resource.code]
    if not granted:
        raise SharingError(f"consumer {consumer_code!r} has no approved sharing application for {resource.code} "
                           f"({resource.pipeline.target.qualified}) covering {_calendar().local_date(now)}: an "
                           "objection is about data the consumer is shared now")
    application = granted[-1]
    _check_item(resource, item, application)
    pol = policy.load()
    row_key = row_key.strip() if row_key is not None else None
    try:
        with transaction(conn) as cur:
            key = _record_key(cur, resource, application, record_key, row_key)
            _refuse_pending(cur, consumer_code, resource, key, item, repr(row_key if row_key is not None else key))
            cur.execute(sqlfiles.text("queries/sharing_objection_insert"), {
                "consumer_code": consumer_code, "resource_code": resource.code,
                "provider_code": resource.provider.code, "record_key": key, "row_key": row_key or None,
                "item_name": item, "value_seen": value_seen, "value_expected": value_expected, "evidence": evidence,
                "raised_at": now, "answer_due_at": pol.calendar.add_working_days(now, pol.limits.objection_answer)})
            objection_id = cur.fetchone()[0]
            return _get(cur, objection_id, now)
    except psycopg2.errors.UniqueViolation:
        # the index objection_pending_once: raised meanwhile by a session that took no lock
        with transaction(conn) as cur:
            _refuse_pending(cur, consumer_code, resource, key, item, repr(row_key if row_key is not None else key))
        raise


# -- answering ----------------------------------------------------------------------------------


def _answerable(cur, objection_id: int, now: dt.datetime, action: str) -> Objection:
    objection = _get(cur, objection_id, now, lock=True)
    if objection.status != "open":
        when = objection.answered_at.astimezone(_calendar().zone).strftime("%Y-%m-%d %H:%M")
        raise SharingError(f"objection {objection_id} is already {objection.status} (by {objection.answered_by} at "
                           f"{when}): only an open objection can be {action}")
    if now < objection.raised_at:
        raise SharingError(f"objection {objection_id} was raised at {objection.raised_at.isoformat()}, after {now}")
    return objection


def confirm(conn, objection_id: int, *, by: str, now: dt.datetime | None = None,
            catalog: list[Resource] | None = None) -> Objection:
    """The provider confirms an open objection: the value must be corrected by a load within
    ``objection_correction`` working days (``correction_due_at``). When a load since the raising
    has already corrected it (its version of the row has another value of the item than the
    version open when the objection was raised, or deleted the row; see
    include/sql/queries/sharing_objection_correction.sql), the objection is resolved at once by
    that load (``resolved_at``: the load's instant): the returned status is ``resolved``.
    Waits for a load of the resource under way (its load lock), so that a correction committed
    meanwhile is seen. ``catalog``: as :func:`raise_objection` (a resource no longer in it is
    confirmed without the check). Raises SharingError for an unknown id, an objection that is
    not open, or no ``by``."""
    from baselib.sharing import applications

    now = policy.instant(now)
    by = _required(by, "who confirms (--by)")
    pol = policy.load()
    with transaction(conn) as cur:
        resource_code = _get(cur, objection_id, now).resource_code
    try:
        resource = applications.find_resource(resource_code, catalog)
    except SharingError:
        resource = None  # no longer in the catalog: no load will correct it, nor is there one to look at
    with transaction(conn) as cur:
        if resource is not None:
            from baselib.loading import merge

            merge.lock_resource(cur, resource)  # before the row: the order a load takes them in
        objection = _answerable(cur, objection_id, now, "confirmed")
        cur.execute(sqlfiles.text("queries/sharing_objection_answer"), {
            "objection_id": objection_id, "status": "confirmed", "now": now, "by": by, "reason": None,
            "correction_due_at": pol.calendar.add_working_days(now, pol.limits.objection_correction)})
        if resource is not None:
            correction = _correction(cur, resource, objection)
            if correction is not None:
                load_id, loaded_at = correction
                cur.execute(sqlfiles.text("queries/sharing_objection_resolve_now"),
                            {"objection_id": objection_id, "load_id": load_id, "resolved_at": loaded_at})
        return _get(cur, objection_id, now)


def _correction(cur, resource: Resource, objection: Objection) -> tuple[int, dt.datetime] | None:
    """(load id, its instant) of the load that already corrected ``objection``'s value; None."""
    from baselib.sharing import grants

    cur.execute(sqlfiles.compose("queries/sharing_objection_correction",
                                 history=sqlfiles.ident(schema.history_table(resource)),
                                 record_key=grants.record_key_sql(resource)),
                {"item_name": objection.item_name, "record_key": objection.record_key,
                 "raised_at": objection.raised_at})
    return cur.fetchone()


def reject(conn, objection_id: int, *, by: str, reason: str, now: dt.datetime | None = None) -> Objection:
    """The provider rejects an open objection, with its reason. Raises SharingError for an unknown
    id, an objection that is not open, no ``by`` or no ``reason``."""
    now = policy.instant(now)
    by = _required(by, "who rejects (--by)")
    reason = _required(reason, "a rejection's reason (--reason)")
    with transaction(conn) as cur:
        _answerable(cur, objection_id, now, "rejected")
        cur.execute(sqlfiles.text("queries/sharing_objection_answer"), {
            "objection_id": objection_id, "status": "rejected", "now": now, "by": by, "reason": reason,
            "correction_due_at": None})
        return _get(cur, objection_id, now)


# -- listing ------------------------------------------------------------------------------------


def list_(conn, *, provider_code: str | None = None, consumer_code: str | None = None, status: str | None = None,
          now: dt.datetime | None = None) -> list[Objection]:
    """Objections in the order raised, filtered by provider (its code), consumer and status: one
    of :data:`STATUSES`, or ``overdue`` (open at or after ``answer_due_at``, or confirmed at or
    after ``correction_due_at``, judged at ``now``). Raises SharingError for another status."""
    now = policy.instant(now)
    if status is not None and status not in LIST_STATUSES:
        raise SharingError(f"unknown status {status!r}: a status is one of {', '.join(LIST_STATUSES)}")
    with transaction(conn) as cur:
        cur.execute(sqlfiles.text("queries/sharing_objection_list"),
                    {"provider_code": provider_code, "consumer_code": consumer_code, "status": status, "now": now})
        return _rows(cur, now)


# -- resolution by a load -----------------------------------------------------------------------


def resolve_by_load(cur, resource: Resource, changes: sql.Composable, params: dict) -> int:
    """The merge hook: in the load's transaction, after the classification and before the changes
    are applied (``changes``: the classified rows, ``_change`` 'U' for a changed key; the SCD2
    table's open version of each key is still the one the load replaces), resolve every confirmed
    objection to the resource whose key's new version has another value of its item.
    ``params``: ``load_id`` and ``now`` (the load's instant). Returns how many were resolved. Costs
    one index probe when the resource has no confirmed objection."""
    cur.execute(sqlfiles.text("queries/sharing_objection_confirmed_exists"), {"resource_code": resource.code})
    if not cur.fetchone()[0]:
        return 0
    keys = resource.pipeline.key_columns
    cur.execute(sqlfiles.compose(
        "templates/merge/resolve_objections", changes=changes,
        history=sqlfiles.ident(schema.history_table(resource)),
        key_join_hc=sqlfiles.key_join("h", "c", keys),
        key_columns_c=sqlfiles.ident_list(keys, prefix="c"),
    ), {**params, "resource_code": resource.code})
    return cur.rowcount


def resolve_deleted(cur, resource: Resource, deleted: sql.Composable, params: dict) -> int:
    """The merge hook after a reconcile, in the load's transaction: resolve every confirmed
    objection to the resource whose row the load deleted (``deleted``: a relation of the deleted
    keys, columns named as the key columns); the wrong value is no longer served. ``params``:
    ``load_id`` and ``now``. Returns how many were resolved; one index probe when the resource
    has no confirmed objection."""
    from baselib.sharing import grants

    cur.execute(sqlfiles.text("queries/sharing_objection_confirmed_exists"), {"resource_code": resource.code})
    if not cur.fetchone()[0]:
        return 0
    cur.execute(sqlfiles.compose("queries/sharing_objection_resolve_deleted", deleted=deleted,
                                 record_key=grants.record_key_sql(resource)),
                {**params, "resource_code": resource.code})
    return cur.rowcount


# -- a readable table ---------------------------------------------------------------------------


def _local(instant: dt.datetime | None) -> str:
    return "-" if instant is None else instant.astimezone(_calendar().zone).strftime("%Y-%m-%d %H:%M")


def _span(days: int | None, hours: float | None) -> str:
    return "-" if days is None else f"{days} wd / {hours:g} h"


def table_rows(objections: list[Objection]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of a table of ``objections`` (times Asia/Shanghai; ``wd`` working days)."""
    headers = ["id", "status", "consumer", "resource", "provider", "key", "item", "seen", "expected", "raised",
               "answer due", "answered", "to answer", "correction due", "resolved (load)", "to resolution"]
    rows = []
    for o in objections:
        rows.append([
            str(o.objection_id), o.status + (" (overdue)" if o.overdue else ""), o.consumer_code, o.resource_code,
            o.provider_code, o.record_key, o.item_name,
            o.value_seen or "-", o.value_expected, _local(o.raised_at), _local(o.answer_due_at),
            _local(o.answered_at) + (f" {o.answered_by}" if o.answered_by else ""),
            _span(o.working_days_to_answer, o.hours_to_answer), _local(o.correction_due_at),
            _local(o.resolved_at) + (f" ({o.resolved_by_load_id})" if o.resolved_by_load_id else ""),
            _span(o.working_days_to_resolution, o.hours_to_resolution)])
    return headers, rows
