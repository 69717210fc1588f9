"""Sharing applications (共享申请) and their decisions, timed in working days.

A consumer applies for items of a catalog resource, for a purpose, on a legal basis, for a period
of inclusive Asia/Shanghai dates. What happens next follows the catalog's sharing type:

- 无条件共享: approved after a compliance review, due within 2 working days;
- 有条件共享: the provider approves or refuses with a reason, due within 5 working days, or 10 when
  the resource has no committed load yet (the provider must first publish the data);
- 不予共享: recorded at once as refused, the reason being the catalog's basis (``sharing.condition``).

Limits come from include/sharing/policy.yaml (:mod:`baselib.sharing.policy`). ``due_at`` is the
deadline instant (24:00 local time of the last working day allowed); a decision stores the working
days it took (``response_working_days``): decided within the limit iff ``decided_at < due_at``,
overdue iff undecided at or after ``due_at``. One approved application per (consumer, resource)
grants access at a time: the most recently approved among those whose period covers today (a
renewal approved for a later period leaves the current one in force until it starts; see
:func:`approve`).
Grants follow from the approved applications (:mod:`baselib.sharing.grants`), never from here.

Every function takes a connection to the warehouse, whose shared DDL is applied
(``schema.ensure(conn, [])``), commits its own work, and raises
:class:`~baselib.errors.SharingError` (nothing written) for a request it cannot carry out. ``now``
is a timezone-aware instant, for tests; the default is the current time.
"""
from __future__ import annotations

import datetime as dt
import difflib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from baselib.catalog import Resource
from baselib.catalog.loader import Catalog, scan_catalog
from baselib.catalog.model import SharingType
from baselib.errors import SharingError
from baselib.sharing import policy
from baselib.warehouse import sqlfiles
from baselib.warehouse.transactions import transaction

log = logging.getLogger(__name__)

UTC = dt.timezone.utc
STATUSES = ("submitted", "approved", "refused", "revoked", "expired", "superseded")
NOT_SHARED_DECIDER = "共享目录（不予共享）"
CONSUMERS_HINT = "`python -m baselib.cli sharing consumers` registers the consumers of include/sharing/consumers.yaml"


@dataclass(frozen=True)
class Application:
    """One row of ``sharing.application`` (include/sql/ddl/070_sharing.sql), read at ``as_of``.

    ``items``: item names in catalog order; ``period_start`` / ``period_end``: inclusive local
    dates; ``*_at``: timezone-aware instants; ``response_limit_days`` / ``response_working_days``:
    working days. ``as_of`` is the instant ``overdue`` is judged at (not a column)."""

    application_id: int
    consumer_code: str
    resource_code: str
    provider_code: str
    sharing_type: str
    items: list[str]
    personal: bool
    purpose: str
    legal_basis: str
    period_start: dt.date
    period_end: dt.date
    status: str
    submitted_at: dt.datetime
    response_limit_days: int
    due_at: dt.datetime
    decided_at: dt.datetime | None
    decided_by: str | None
    decision_reason: str | None
    response_working_days: int | None
    revoked_at: dt.datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    superseded_by: int | None
    as_of: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC), compare=False, repr=False)

    @property
    def access_ends_at(self) -> dt.datetime:
        """00:00 Asia/Shanghai (the policy's zone) on the day after ``period_end``."""
        zone = policy.load().zone
        return dt.datetime.combine(self.period_end + dt.timedelta(days=1), dt.time(), zone)

    @property
    def overdue(self) -> bool:
        """Still submitted (undecided) at ``as_of``, and ``as_of >= due_at`` (``due_at`` itself is
        already late; see :attr:`within_limit`)."""
        return self.status == "submitted" and self.as_of >= self.due_at

    @property
    def within_limit(self) -> bool | None:
        """Decided (approved or refused, whatever happened later) before ``due_at`` (24:00 of the
        last working day allowed, exclusive: a decision at exactly ``due_at`` is late); for an
        undecided one False once overdue, None while there is still time."""
        if self.decided_at is not None:
            return self.decided_at < self.due_at
        return False if self.overdue else None


# -- reading ------------------------------------------------------------------------------------


def _rows(cur, now: dt.datetime) -> list[Application]:
    return [Application(*row, as_of=now) for row in cur.fetchall()]


def _get(cur, application_id: int, now: dt.datetime) -> Application:
    cur.execute(sqlfiles.text("queries/sharing_app_get"), {"application_id": application_id})
    found = _rows(cur, now)
    if not found:
        raise SharingError(f"no sharing application {application_id}: `python -m baselib.cli sharing list` "
                           f"lists the applications")
    return found[0]


def get(conn, application_id: int, *, now: dt.datetime | None = None) -> Application:
    """The application. Raises SharingError when there is none with that id."""
    now = policy.instant(now)
    with transaction(conn) as cur:
        return _get(cur, application_id, now)


def list_(conn, *, consumer_code: str | None = None, status: str | None = None, overdue: bool | None = None,
          now: dt.datetime | None = None) -> list[Application]:
    """Applications in filing order, filtered by consumer, status and (True) only the overdue ones
    (submitted and past ``due_at`` at ``now``) or (False) only the others. Raises SharingError for
    a status that does not exist or a consumer never declared."""
    now = policy.instant(now)
    if status is not None and status not in STATUSES:
        raise SharingError(f"unknown status {status!r}: a status is one of {', '.join(STATUSES)}")
    with transaction(conn) as cur:
        if consumer_code is not None:
            cur.execute(sqlfiles.text("queries/sharing_app_consumer"), {"consumer_code": consumer_code})
            if cur.fetchone() is None:
                raise SharingError(_unknown_consumer(cur, consumer_code))
        cur.execute(sqlfiles.text("queries/sharing_app_list"),
                    {"consumer_code": consumer_code, "status": status, "overdue": overdue, "now": now})
        return _rows(cur, now)


def active(conn, *, now: dt.datetime | None = None, consumer_code: str | None = None) -> list[Application]:
    """The applications that grant access at ``now``: approved, their consumer active, their period
    covering ``now``'s local date; at most one per (consumer, resource), the most recently approved
    (as the reconcile's ``sharing_grants_active_applications``). Ordered by consumer, resource, id."""
    now = policy.instant(now)
    today = policy.load().calendar.local_date(now)
    with transaction(conn) as cur:
        cur.execute(sqlfiles.text("queries/sharing_app_active"), {"today": today, "consumer_code": consumer_code})
        return _rows(cur, now)


# -- the catalog --------------------------------------------------------------------------------


def _as_catalog(catalog: Catalog | list[Resource] | None) -> Catalog:
    if catalog is None:
        return scan_catalog()
    if isinstance(catalog, Catalog):
        return catalog
    return Catalog(resources=list(catalog))


def find_resource(code_or_target: str, catalog: Catalog | list[Resource] | None = None) -> Resource:
    """The catalog resource whose code ("101001/000001") or target table ("base_population.person")
    is ``code_or_target``. ``catalog``: a :func:`scan_catalog` result or a list of resources
    (default: the catalog scanned now). Raises SharingError naming near matches, or the entry's
    own error when the entry that would have matched is broken."""
    catalog = _as_catalog(catalog)
    wanted = code_or_target.strip()
    for resource in catalog.resources:
        if wanted in (resource.code, resource.pipeline.target.qualified):
            return resource
    for error in catalog.errors:
        if _entry_claims(error.path, wanted, error.message):
            raise SharingError(f"the catalog entry for {wanted!r} is broken, so nothing can be applied for until "
                               f"its provider fixes it: {error.message}")
    choices = {r.code: r for r in catalog.resources}
    choices.update({r.pipeline.target.qualified: r for r in catalog.resources})
    choices.update({r.name: r for r in catalog.resources})
    close = difflib.get_close_matches(wanted, list(choices), n=3, cutoff=0.6)
    if close:
        hint = "did you mean " + " or ".join(f"{_label(choices[c])}" for c in dict.fromkeys(close)) + "?"
    else:
        hint = "the catalog's resources are: " + "; ".join(_label(r) for r in catalog.resources)
    raise SharingError(f"unknown resource {wanted!r}: give a catalog resource code or its target table; {hint}")


def _label(resource: Resource) -> str:
    return f"{resource.code} {resource.pipeline.target.qualified} ({resource.name})"


def _entry_claims(path: Path, wanted: str, message: str) -> bool:
    """Whether a broken entry file is probably the resource asked for: its file is named after the
    target (schema_table.yaml), or its text names the code."""
    if path.stem == wanted.replace(".", "_") or wanted in message:
        return True
    try:
        return "/" in wanted and wanted in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


# -- applying -----------------------------------------------------------------------------------


def _unknown_consumer(cur, consumer_code: str) -> str:
    cur.execute(sqlfiles.text("queries/sharing_app_declared_consumers"))
    declared = [row[0] for row in cur.fetchall()]
    listed = ", ".join(declared) if declared else "none yet"
    return f"unknown consumer {consumer_code!r}: the declared consumers are {listed}; {CONSUMERS_HINT}"


def _check_consumer(cur, consumer_code: str, *, lock: bool) -> None:
    """Raise SharingError unless the consumer is declared and active. ``lock``: hold its row until
    the transaction ends, so decisions about one consumer happen one at a time."""
    cur.execute(sqlfiles.text("queries/sharing_app_consumer_lock" if lock else "queries/sharing_app_consumer"),
                {"consumer_code": consumer_code})
    row = cur.fetchone()
    if row is None:
        raise SharingError(_unknown_consumer(cur, consumer_code))
    if not row[1]:
        raise SharingError(f"consumer {consumer_code!r} is no longer declared in consumers.yaml (inactive): it can "
                           f"neither apply nor be granted access; declare it again, then {CONSUMERS_HINT}")


def _items(resource: Resource, items: list[str] | None) -> list[str]:
    """The items applied for, checked, in catalog order."""
    names = [item.name for item in resource.items]
    if items is None:
        return names
    given = [str(name).strip() for name in items]
    listing = f"the items of {resource.code} ({resource.name}) are: {', '.join(names)}"
    if not [name for name in given if name]:
        raise SharingError(f"no items given: name at least one item, or apply for all of them; {listing}")
    if any(not name for name in given):
        raise SharingError(f"an empty item name in {items!r}; {listing}")
    duplicates = sorted({name for name in given if given.count(name) > 1})
    if duplicates:
        raise SharingError(f"items named more than once: {', '.join(duplicates)}; name each item once")
    unknown = [name for name in given if name not in names]
    if unknown:
        raise SharingError(f"unknown item{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; {listing}")
    return [name for name in names if name in given]


def _check_period(start: dt.date, end: dt.date, today: dt.date, pol: policy.Policy) -> None:
    if end < start:
        raise SharingError(f"the period ends ({end}) before it starts ({start}): give --from <= --to")
    if end < today:
        raise SharingError(f"the period {start} to {end} is already over (today is {today}, {pol.time_zone}): "
                           f"apply for a period that ends today or later")
    days = (end - start).days + 1
    if days > pol.max_period_days:
        raise SharingError(f"the period {start} to {end} is {days} days long; an application may cover at most "
                           f"{pol.max_period_days} days (include/sharing/policy.yaml max_period_days)")


def response_limit(cur, resource: Resource, pol: policy.Policy | None = None) -> int:
    """Working days allowed to answer an application for ``resource`` now: 2 (无条件共享, compliance
    review), 5 (有条件共享), 10 (有条件共享 without a committed load in ``ops.committed_load``: the
    provider must first publish the data), 0 (不予共享: refused at once)."""
    limits = (pol or policy.load()).limits
    kind = resource.sharing.type
    if kind is SharingType.unconditional:
        return limits.unconditional_review
    if kind is SharingType.not_shared:
        return 0
    cur.execute(sqlfiles.text("queries/sharing_app_committed"), {"resource_code": resource.code})
    return limits.conditional_answer if cur.fetchone()[0] else limits.conditional_publish_first


def apply(conn, *, consumer_code: str, resource_code: str, items: list[str] | None, purpose: str, legal_basis: str,
          period_start: dt.date, period_end: dt.date, personal: bool = False, now: dt.datetime | None = None,
          catalog: Catalog | list[Resource] | None = None) -> Application:
    """File a sharing application and return it (status ``submitted``, due in working days per the
    sharing type). ``resource_code``: a resource code or its target "schema.table"; ``items``:
    item names (None: every item); ``personal``: ask for personal items raw (有条件共享 only).

    A 不予共享 resource's application is recorded and returned already ``refused`` (decided at
    submission by ``共享目录（不予共享）``, the reason being the catalog's basis): the caller reports
    it. Raises SharingError, recording nothing, for an unknown or inactive consumer, an unknown or
    broken resource, unknown, duplicate or no items, an empty purpose or legal basis, a period that
    is reversed, already over or longer than ``max_period_days``, or ``personal`` where it cannot
    apply."""
    now = policy.instant(now)
    pol = policy.load()
    calendar = pol.calendar
    resource = find_resource(resource_code, catalog)
    chosen = _items(resource, items)
    purpose, legal_basis = (purpose or "").strip(), (legal_basis or "").strip()
    if not purpose:
        raise SharingError("the purpose (用途) is empty: say what the data will be used for")
    if not legal_basis:
        raise SharingError("the legal basis (依据) is empty: cite the law, regulation or duty the use rests on")
    _check_period(period_start, period_end, calendar.local_date(now), pol)
    kind = resource.sharing.type
    if personal and kind is SharingType.unconditional:
        raise SharingError(f"{resource.code} ({resource.name}) is {kind.value}: raw personal data is applied for only "
                           f"on 有条件共享 resources; apply without --personal (personal items are then masked)")
    if personal and kind is SharingType.conditional:
        personal_items = [item.name for item in resource.items if item.personal]
        if not set(personal_items) & set(chosen):
            which = (f"its personal items are {', '.join(personal_items)}" if personal_items
                     else "it has no personal items")
            raise SharingError(f"--personal asks for raw personal items, but none of the items applied for is "
                               f"personal ({which}): add one or leave out --personal")
    with transaction(conn) as cur:
        _check_consumer(cur, consumer_code, lock=False)
        limit = response_limit(cur, resource, pol)
        refused = kind is SharingType.not_shared
        row = {
            "consumer_code": consumer_code, "resource_code": resource.code, "provider_code": resource.provider.code,
            "sharing_type": kind.value, "items": chosen, "personal": bool(personal), "purpose": purpose,
            "legal_basis": legal_basis, "period_start": period_start, "period_end": period_end,
            "status": "refused" if refused else "submitted", "submitted_at": now, "response_limit_days": limit,
            "due_at": calendar.add_working_days(now, limit),
            "decided_at": now if refused else None, "decided_by": NOT_SHARED_DECIDER if refused else None,
            "decision_reason": resource.sharing.condition if refused else None,
            "response_working_days": 0 if refused else None,
        }
        cur.execute(sqlfiles.text("queries/sharing_app_insert"), row)
        return _get(cur, cur.fetchone()[0], now)


# -- decisions ----------------------------------------------------------------------------------


def _decidable(cur, application_id: int, now: dt.datetime, by: str, *, approving: bool) -> Application:
    """The application, re-read after locking its consumer; checks ``by`` and ``now``, and for an
    approval that the consumer is still declared (a refusal grants nothing: a retired consumer's
    pending applications can still be refused)."""
    if not (by or "").strip():
        raise SharingError("say who decides: give the name of the person deciding (--by)")
    app = _get(cur, application_id, now)
    if approving:
        _check_consumer(cur, app.consumer_code, lock=True)
    else:
        _check_consumer_exists_locked(cur, app.consumer_code)
    app = _get(cur, application_id, now)
    if now < app.submitted_at:
        raise SharingError(f"application {application_id} was submitted at {app.submitted_at.isoformat()}: "
                           f"it cannot be decided before that ({now.isoformat()})")
    return app


def _check_still_shareable(app: Application, catalog: Catalog | list[Resource] | None) -> None:
    """Raise SharingError unless the catalog, read now, still shares ``app``'s resource and items
    as applied for: the entry may have been removed, broken, made 不予共享 or lost items since."""
    refuse_hint = f"refuse it instead: `python -m baselib.cli sharing refuse {app.application_id} --by … --reason …`"
    try:
        resource = find_resource(app.resource_code, catalog)
    except SharingError as exc:
        raise SharingError(f"cannot approve application {app.application_id}: its resource {app.resource_code} "
                           f"is no longer in the catalog as it was ({exc}); nothing can be granted on it, "
                           f"{refuse_hint}") from None
    kind = resource.sharing.type
    if kind is SharingType.not_shared:
        raise SharingError(f"cannot approve application {app.application_id}: the catalog now makes "
                           f"{resource.code} ({resource.name}) 不予共享, basis: {resource.sharing.condition}; "
                           f"{refuse_hint}")
    names = [item.name for item in resource.items]
    gone = [name for name in app.items if name not in names]
    if gone:
        raise SharingError(f"cannot approve application {app.application_id}: the catalog entry of {resource.code} "
                           f"({resource.name}) no longer has the item{'s' if len(gone) > 1 else ''} "
                           f"{', '.join(gone)} (its items are: {', '.join(names)}); {refuse_hint}, and the "
                           f"consumer applies again for the items there are")
    if app.personal and kind is not SharingType.conditional:
        raise SharingError(f"cannot approve application {app.application_id}: it asks for raw personal data, "
                           f"which only a 有条件共享 resource gives, and the catalog now makes {resource.code} "
                           f"{kind.value}; {refuse_hint}")


def _decide(conn, application_id: int, *, status: str, by: str, reason: str | None, now: dt.datetime | None,
            catalog: Catalog | list[Resource] | None = None) -> Application:
    now = policy.instant(now)
    calendar = policy.load().calendar
    verb = {"approved": "approve", "refused": "refuse"}[status]
    with transaction(conn) as cur:
        if status == "refused" and not (reason or "").strip():
            raise SharingError(f"a refusal gives its reason: refuse application {application_id} with --reason")
        app = _decidable(cur, application_id, now, by, approving=status == "approved")
        if app.status != "submitted":
            raise SharingError(f"cannot {verb} application {application_id}: it is {app.status}"
                               f"{_when(app)}; only a submitted application can be approved or refused")
        if status == "approved":
            today = calendar.local_date(now)
            if app.period_end < today:
                raise SharingError(f"cannot approve application {application_id}: its period ended on "
                                   f"{app.period_end} (today is {today}); refuse it, and the consumer applies again")
            _check_still_shareable(app, catalog)
        cur.execute(sqlfiles.text("queries/sharing_app_decide"), {
            "application_id": application_id, "status": status, "decided_at": now, "decided_by": by.strip(),
            "decision_reason": (reason or "").strip() or None,
            "response_working_days": calendar.working_days_between(app.submitted_at, now)})
        if status == "approved":
            _supersede(cur, calendar.local_date(now), consumer_code=app.consumer_code,
                       resource_code=app.resource_code)
        return _get(cur, application_id, now)


def _when(app: Application) -> str:
    if app.status == "superseded":
        return f" (by application {app.superseded_by})"
    if app.status == "revoked" and app.revoked_at:
        return f" since {app.revoked_at.isoformat()} by {app.revoked_by}"
    if app.decided_at:
        return f" since {app.decided_at.isoformat()} by {app.decided_by}"
    return ""


def _supersede(cur, today: dt.date, *, consumer_code: str | None = None, resource_code: str | None = None
               ) -> list[int]:
    cur.execute(sqlfiles.text("queries/sharing_app_supersede"),
                {"today": today, "consumer_code": consumer_code, "resource_code": resource_code})
    return sorted(row[0] for row in cur.fetchall())


def approve(conn, application_id: int, *, by: str, reason: str | None = None, now: dt.datetime | None = None,
            catalog: Catalog | list[Resource] | None = None) -> Application:
    """Approve a submitted application (``reason``: an optional note).

    The catalog is read again (``catalog``: a :func:`scan_catalog` result or a list of resources;
    default: scanned now): the resource must still be there, shared (not 不予共享), with every item
    applied for. One approved application per (consumer, resource) grants access at a time: the
    most recently approved among those whose period covers today. So approving one whose period
    has started supersedes the consumer's other approved application for the resource that covers
    today, while one approved for a later period (a renewal) leaves the current one in force until
    it starts (:func:`expire`, run daily, then marks the older one ``superseded``). The latest
    decision wins whatever the filing order: approving an application filed before an already
    approved one makes it the active one if its period covers today.

    Raises SharingError (nothing written) for an unknown id, one not ``submitted``, an inactive
    consumer, a period already over, or a resource the catalog no longer shares as applied for
    (removed, broken, 不予共享 with its basis quoted, items gone): the operator then refuses it. The
    grants follow at the next :func:`baselib.sharing.grants.reconcile`."""
    return _decide(conn, application_id, status="approved", by=by, reason=reason, now=now, catalog=catalog)


def refuse(conn, application_id: int, *, by: str, reason: str, now: dt.datetime | None = None) -> Application:
    """Refuse a submitted application, with its reason; also that of a consumer no longer declared
    (a refusal grants nothing). Raises SharingError for an unknown id, one not ``submitted``, or no
    reason."""
    return _decide(conn, application_id, status="refused", by=by, reason=reason, now=now)


def revoke(conn, application_id: int, *, by: str, reason: str, now: dt.datetime | None = None) -> Application:
    """Revoke an approved application, with its reason: its grants go at the next reconcile.
    Raises SharingError for an unknown id, one not ``approved``, or no reason."""
    now = policy.instant(now)
    with transaction(conn) as cur:
        if not (reason or "").strip():
            raise SharingError(f"a revocation gives its reason: revoke application {application_id} with --reason")
        if not (by or "").strip():
            raise SharingError("say who revokes: give the name of the person revoking (--by)")
        app = _get(cur, application_id, now)
        _check_consumer_exists_locked(cur, app.consumer_code)
        app = _get(cur, application_id, now)
        if app.status != "approved":
            raise SharingError(f"cannot revoke application {application_id}: it is {app.status}{_when(app)}; "
                               f"only an approved application can be revoked")
        cur.execute(sqlfiles.text("queries/sharing_app_revoke"), {
            "application_id": application_id, "revoked_at": now, "revoked_by": by.strip(),
            "revoke_reason": reason.strip()})
        return _get(cur, application_id, now)


def _check_consumer_exists_locked(cur, consumer_code: str) -> None:
    """Lock the consumer's row (a revocation is allowed whether or not the consumer is active)."""
    cur.execute(sqlfiles.text("queries/sharing_app_consumer_lock"), {"consumer_code": consumer_code})


def expire(conn, now: dt.datetime | None = None) -> list[int]:
    """Mark ``expired`` every approved application whose period ended before ``now``'s local date
    (access ends at 00:00 local time the day after ``period_end``), then ``superseded`` every
    approved one that a more recently approved application of the same consumer and resource has
    replaced now that its period has started (see :func:`approve`; those ids are logged). Returns
    the expired ids, ascending."""
    now = policy.instant(now)
    today = policy.load().calendar.local_date(now)
    with transaction(conn) as cur:
        cur.execute(sqlfiles.text("queries/sharing_app_expire"), {"today": today})
        expired = sorted(row[0] for row in cur.fetchall())
        superseded = _supersede(cur, today)
    if superseded:
        log.info("applications superseded (a renewal's period started): %s", ", ".join(map(str, superseded)))
    return expired
