"""The ``sharing`` command group of ``python -m baselib.cli``: consumers, applications and their
decisions, the grants they make, and measured use.

Every command works on the warehouse (``WAREHOUSE_URL`` or ``AIRFLOW_CONN_WAREHOUSE``), applies the
shared DDL first, prints its result on stdout and exits 0. Bad input prints ``error: <what was
wrong and what is allowed>`` on stderr and exits 1, writing nothing. This module stays light at
import (argparse only): the engine is imported when a command runs."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import unicodedata

DESCRIPTION = """Sharing control (共享管理). A consumer (使用方) declared in include/sharing/consumers.yaml
applies for items of a catalog resource; the application is answered within working-day limits
(无条件共享 2, 有条件共享 5, or 10 when the data is not yet published; 不予共享 is refused at once);
an approved application becomes views in the consumer's schema share_<code> at the next reconcile."""

TIME_FORMAT = "%Y-%m-%d %H:%M"


def register(subparsers) -> None:
    """Add the ``sharing`` command group to ``subparsers`` (the main parser's ``add_subparsers()``)."""
    group = subparsers.add_parser("sharing", help="sharing control: consumers, applications, decisions, grants, use",
                                  description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = group.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("consumers", help="create or update the consumers' login roles from consumers.yaml, then "
                                         "reconcile their grants",
                       description="Read include/sharing/consumers.yaml (or BASELIB_CONSUMERS_FILE, or --file): each "
                                   "consumer becomes the LOGIN role consumer_<code> with the password from its "
                                   "environment variable (BASELIB_CONSUMER_<CODE>_PASSWORD); a consumer no longer "
                                   "declared loses its login. Then reconcile the grants, and print every change.")
    p.add_argument("--file", help="the consumers file (default: BASELIB_CONSUMERS_FILE or include/sharing/consumers.yaml)")
    p.set_defaults(func=_command(cmd_consumers))

    p = sub.add_parser("apply", help="file a sharing application (共享申请)",
                       description="File a sharing application and print its id, status and due date. A resource "
                                   "that is 不予共享 is refused at once: the refusal is recorded, and the command "
                                   "fails naming the application and the catalog's basis.")
    p.add_argument("--consumer", required=True, help="the consumer's code (consumers.yaml)")
    p.add_argument("--resource", required=True, help="the resource code (e.g. 101001/000001) or its target table "
                                                     "(e.g. base_population.person)")
    items = p.add_mutually_exclusive_group()
    items.add_argument("--items", help="comma-separated item names (the catalog's item names)")
    items.add_argument("--all-items", action="store_true", help="every item of the resource")
    p.add_argument("--purpose", required=True, help="用途: what the data will be used for")
    p.add_argument("--legal-basis", required=True, help="依据: the law, regulation or duty the use rests on")
    p.add_argument("--from", dest="period_start", required=True, metavar="YYYY-MM-DD",
                   help="first day of the period (Asia/Shanghai)")
    p.add_argument("--to", dest="period_end", required=True, metavar="YYYY-MM-DD",
                   help="last day of the period, inclusive: access ends at 00:00 the day after")
    p.add_argument("--personal", action="store_true",
                   help="ask for personal items raw (有条件共享 only); without it they are masked")
    p.set_defaults(func=_command(cmd_apply))

    p = sub.add_parser("approve", help="approve a submitted application, then reconcile the consumer's grants",
                       description="Approve a submitted application (it supersedes the consumer's earlier approved "
                                   "one for the same resource), then reconcile the consumer's grants and print "
                                   "what changed.")
    p.add_argument("id", help="the application id")
    p.add_argument("--by", required=True, help="who approves (name, department)")
    p.add_argument("--note", help="an optional note stored as the decision's reason")
    p.set_defaults(func=_command(cmd_approve))

    p = sub.add_parser("refuse", help="refuse a submitted application, with its reason")
    p.add_argument("id", help="the application id")
    p.add_argument("--by", required=True, help="who refuses (name, department)")
    p.add_argument("--reason", required=True, help="why: a refusal always gives its reason")
    p.set_defaults(func=_command(cmd_refuse))

    p = sub.add_parser("revoke", help="revoke an approved application, then reconcile the consumer's grants")
    p.add_argument("id", help="the application id")
    p.add_argument("--by", required=True, help="who revokes (name, department)")
    p.add_argument("--reason", required=True, help="why it is revoked")
    p.set_defaults(func=_command(cmd_revoke))

    p = sub.add_parser("list", help="list applications with their times against the working-day limits")
    p.add_argument("--consumer", help="only this consumer's")
    p.add_argument("--status", help="only this status: submitted, approved, refused, revoked, expired, superseded")
    p.add_argument("--overdue", action="store_true", help="only submitted applications past their due time")
    p.set_defaults(func=_command(cmd_list))

    p = sub.add_parser("show", help="every field of one application")
    p.add_argument("id", help="the application id")
    p.set_defaults(func=_command(cmd_show))

    p = sub.add_parser("access", help="what each consumer can read now: its role, schema, views and columns")
    p.add_argument("--consumer", help="only this consumer")
    p.set_defaults(func=_command(cmd_access))

    p = sub.add_parser("reconcile", help="expire applications whose period is over, then make the roles, views "
                                         "and grants match the applications; print every change")
    p.set_defaults(func=_command(cmd_reconcile))

    p = sub.add_parser("usage", help="collect measured use per consumer, resource and day into "
                                     "evaluation.sharing_usage and print it")
    p.set_defaults(func=_command(cmd_usage))


# -- plumbing -----------------------------------------------------------------------------------


def _command(func):
    """Run ``func(args, conn)`` on a warehouse connection with the shared DDL applied; turn the
    errors a person can fix into ``error: …`` on stderr and exit status 1."""

    def run(args) -> None:
        import psycopg2

        from baselib.errors import BaselibError
        from baselib.warehouse import connections, schema

        try:
            conn = connections.connect("warehouse")
        except (LookupError, psycopg2.OperationalError) as exc:
            _fail(f"cannot connect to the warehouse: {exc}")
        try:
            schema.ensure(conn, [])
            func(args, conn)
        except (BaselibError, LookupError) as exc:
            _fail(str(exc))
        finally:
            conn.close()

    run.__doc__ = func.__doc__
    return run


def _fail(message: str) -> None:
    print(f"error: {message.strip()}", file=sys.stderr)
    sys.exit(1)


def _date(value: str, option: str) -> dt.date:
    from baselib.errors import SharingError

    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise SharingError(f"{option} {value!r} is not a date: give YYYY-MM-DD, e.g. 2026-11-02") from None


def _id(value: str) -> int:
    from baselib.errors import SharingError

    try:
        number = int(value.strip())
    except ValueError:
        number = 0
    if number <= 0:
        raise SharingError(f"{value!r} is not an application id: give the number `sharing list` shows")
    return number


def _local(instant: dt.datetime | None) -> str:
    if instant is None:
        return "-"
    from baselib.sharing import policy

    return instant.astimezone(policy.load().zone).strftime(TIME_FORMAT)


def _print_changes(changes, what: str = "grant changes") -> None:
    if not changes:
        print(f"{what}: none (already in line with the applications)")
        return
    print(f"{what}: {len(changes)}")
    for change in changes:
        detail = f" [{change.detail}]" if change.detail else ""
        print(f"  {change.action} {change.object} for {change.role_name}{detail}: {change.reason}")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _resources() -> dict:
    """Resource code -> Resource, from the catalog entries that load."""
    from baselib.catalog import scan_catalog

    return {r.code: r for r in scan_catalog().resources}


def _names() -> dict[str, str]:
    """Resource code -> name, from the catalog entries that load."""
    return {code: r.name for code, r in _resources().items()}


def _personal(app, resource) -> str:
    """How the application's personal items are served: raw, masked, or '-' (none applied for;
    '?' when the resource is no longer in the catalog)."""
    if app.personal:
        return "raw"
    if resource is None:
        return "?"
    return "masked" if any(item.personal and item.name in app.items for item in resource.items) else "-"


# -- commands -----------------------------------------------------------------------------------


def cmd_consumers(args, conn) -> None:
    """Declare the consumers' roles, then reconcile."""
    from baselib.sharing import consumers, grants

    declared = consumers.load(args.file)
    print(f"consumers declared: {len(declared)} ({', '.join(c.code for c in declared) or 'none'})")
    _print_changes(consumers.apply_roles(conn, declared, run_id="cli"), "role changes")
    _print_changes(grants.reconcile(conn, run_id="cli"))


def cmd_apply(args, conn) -> None:
    """File an application."""
    from baselib.errors import SharingError
    from baselib.sharing import applications

    if args.all_items:
        items = None
    elif args.items is None:
        raise SharingError("name the items: --items a,b,c (the catalog's item names) or --all-items")
    else:
        items = [name.strip() for name in args.items.split(",")]  # empty names are reported by apply
    app = applications.apply(
        conn, consumer_code=args.consumer.strip(), resource_code=args.resource, items=items, purpose=args.purpose,
        legal_basis=args.legal_basis, period_start=_date(args.period_start, "--from"),
        period_end=_date(args.period_end, "--to"), personal=args.personal)
    if app.status == "refused":
        raise SharingError(f"application {app.application_id} refused at once: resource {app.resource_code} is "
                           f"{app.sharing_type} in the catalog: {app.decision_reason}")
    print(f"application {app.application_id}: {app.status}, {app.sharing_type} {app.resource_code}, "
          f"items {', '.join(app.items)}{', personal data raw' if app.personal else ''}, "
          f"period {app.period_start} to {app.period_end}")
    print(f"due {_local(app.due_at)} Asia/Shanghai ({app.response_limit_days} working days, "
          f"{_limit_meaning(app)}); answered by {app.provider_code}")


def _limit_meaning(app) -> str:
    if app.sharing_type == "无条件共享":
        return "compliance review"
    if app.response_limit_days == 5:
        return "the provider's answer"
    return "the provider must first publish the data"


def _decided(app) -> None:
    print(f"application {app.application_id}: {app.status} by {app.decided_by} at {_local(app.decided_at)} "
          f"after {app.response_working_days} working days (limit {app.response_limit_days}, "
          f"{'within' if app.within_limit else 'past'} it)")


def cmd_approve(args, conn) -> None:
    """Approve, then reconcile the consumer."""
    from baselib.sharing import applications, grants

    app = applications.approve(conn, _id(args.id), by=args.by, reason=args.note)
    _decided(app)
    superseded = [a.application_id for a in applications.list_(conn, consumer_code=app.consumer_code,
                                                               status="superseded")
                  if a.superseded_by == app.application_id]
    if superseded:
        print(f"supersedes application {', '.join(map(str, superseded))}")
    _print_changes(grants.reconcile(conn, consumer_code=app.consumer_code, run_id="cli"))


def cmd_refuse(args, conn) -> None:
    """Refuse, with a reason."""
    from baselib.sharing import applications

    app = applications.refuse(conn, _id(args.id), by=args.by, reason=args.reason)
    _decided(app)
    print(f"reason: {app.decision_reason}")


def cmd_revoke(args, conn) -> None:
    """Revoke, then reconcile the consumer."""
    from baselib.sharing import applications, grants

    app = applications.revoke(conn, _id(args.id), by=args.by, reason=args.reason)
    print(f"application {app.application_id}: revoked by {app.revoked_by} at {_local(app.revoked_at)}: "
          f"{app.revoke_reason}")
    _print_changes(grants.reconcile(conn, consumer_code=app.consumer_code, run_id="cli"))


LIST_ITEMS_SHOWN = 2  # item names a row of `sharing list` shows; `sharing show <id>` lists them all


def _items_cell(items: list[str]) -> str:
    """``sharing list``'s items column: the count, then the first names (``3: name,sex,…``)."""
    shown = ",".join(items[:LIST_ITEMS_SHOWN])
    return f"{len(items)}: {shown}{',…' if len(items) > LIST_ITEMS_SHOWN else ''}"


def cmd_list(args, conn) -> None:
    """The applications as a table."""
    from baselib.sharing import applications, policy

    now = dt.datetime.now(dt.timezone.utc)
    apps = applications.list_(conn, consumer_code=args.consumer, status=args.status,
                              overdue=True if args.overdue else None, now=now)
    if not apps:
        print("no applications" + (" match" if args.consumer or args.status or args.overdue else ""))
        return
    resources = _resources()
    calendar = policy.load().calendar
    rows = []
    for a in apps:
        taken = a.response_working_days if a.decided_at else calendar.working_days_between(a.submitted_at, now)
        resource = resources.get(a.resource_code)
        rows.append([str(a.application_id), a.consumer_code, f"{a.resource_code} {resource.name if resource else '?'}",
                     _items_cell(a.items), _personal(a, resource),
                     a.status + (" (overdue)" if a.overdue else ""), _local(a.submitted_at), _local(a.due_at),
                     _local(a.decided_at), f"{taken}/{a.response_limit_days}",
                     f"{a.period_start} to {a.period_end}"])
    print(_table(["id", "consumer", "resource", "items", "personal", "status", "submitted", "due", "decided",
                  "working days/limit", "period"], rows))
    print(f"{len(apps)} application(s); times Asia/Shanghai; due = the end of the last working day allowed")
    print(f"items: how many, then the first {LIST_ITEMS_SHOWN}; `sharing show <id>` lists them all")


def cmd_show(args, conn) -> None:
    """Every field of one application."""
    from dataclasses import fields

    from baselib.sharing import applications

    app = applications.get(conn, _id(args.id))
    names = _names()
    for f in fields(app):
        if f.name == "as_of":
            continue
        value = getattr(app, f.name)
        if isinstance(value, dt.datetime):
            text = f"{_local(value)} Asia/Shanghai"
        elif isinstance(value, list):
            text = ", ".join(value)
        else:
            text = "-" if value is None else str(value)
        if f.name == "resource_code":
            text += f" ({names.get(value, 'no longer in the catalog')})"
        print(f"{f.name:<22} {text}")
    print(f"{'access_ends_at':<22} {_local(app.access_ends_at)} Asia/Shanghai")
    print(f"{'overdue':<22} {app.overdue}")
    within = app.within_limit
    print(f"{'within_limit':<22} {'-' if within is None else within}")


def cmd_access(args, conn) -> None:
    """What the consumers can read."""
    from baselib.sharing import grants

    print(grants.format_access(grants.describe_access(conn, consumer_code=args.consumer)))


def cmd_reconcile(args, conn) -> None:
    """Expire, then reconcile every consumer."""
    from baselib.sharing import applications, grants

    expired = applications.expire(conn)
    print(f"expired applications: {', '.join(map(str, expired)) if expired else 'none'}")
    _print_changes(grants.reconcile(conn, run_id="cli"))


def cmd_usage(args, conn) -> None:
    """Collect and print measured use."""
    from baselib.sharing import usage

    reason = usage.unavailable_reason(conn)
    if reason:
        print(f"measured use is unavailable: {reason}")
        return
    rows = usage.collect(conn, run_id="cli")
    seen = (f"statements with new calls: {getattr(rows, 'statements', '?')}, naming a shared view: "
            f"{getattr(rows, 'counted', '?')}, unparsable (not counted): {getattr(rows, 'skipped', '?')}")
    if getattr(rows, "reset_detected", False):
        print(f"warning: the statistics were reset at {_local(rows.stats_reset)}: use since the previous collection "
              f"and before the reset is lost")
    if not rows:
        print(f"no use measured since the previous collection ({seen})")
        return
    print(_table(["day", "consumer", "resource", "provider", "queries", "rows read"],
                 [[str(r.usage_date), r.consumer_code, r.resource_code, r.provider_code, str(r.queries),
                   str(r.rows_read)] for r in rows]))
    print(f"added to evaluation.sharing_usage ({seen})")
