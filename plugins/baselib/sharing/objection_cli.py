"""The ``objection`` command group of ``python -m baselib.cli``: data objections (数据异议).

As the ``sharing`` commands (:mod:`baselib.sharing.cli`): each works on the warehouse, applies the
shared DDL first, prints its result on stdout and exits 0; bad input prints ``error: …`` on
stderr and exits 1, writing nothing. Light at import (argparse only)."""
from __future__ import annotations

import argparse

from baselib.sharing.cli import _command, _id, _local, _table

DESCRIPTION = """Data objections (数据异议). A consumer that believes a shared value is wrong raises an
objection about one item of one row; it goes to the resource's provider, which confirms it within
the policy's working days (then the next load that changes the value, or deletes the row, resolves
it; a correction loaded before the confirmation resolves it at once) or rejects it with a reason.
`list` shows each objection's due times and its times to answer and to resolution (wd = working
days, h = hours; times Asia/Shanghai)."""


def register(subparsers) -> None:
    """Add the ``objection`` command group to ``subparsers`` (the main parser's ``add_subparsers()``)."""
    group = subparsers.add_parser("objection", help="data objections (数据异议): raise, confirm, reject, list",
                                  description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = group.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("raise", help="raise an objection about a value a consumer is shared",
                       description="Raise a data objection for a consumer about one item (not a key item) of one "
                                   "row of a resource its approved application shares now. The row is given by "
                                   "its key (the key columns joined by '/') or by the _row_key the consumer's view "
                                   "shows; a consumer that sees hashed row keys (a personal key without personal "
                                   "approval) gives the _row_key. The same objection still open or confirmed is "
                                   "not raised twice (error: already raised: objection N ...).")
    p.add_argument("--consumer", required=True, help="the consumer's code")
    p.add_argument("--resource", required=True, help="the resource code (e.g. 101001/000001) or its target table")
    key = p.add_mutually_exclusive_group(required=True)
    key.add_argument("--key", help="the row's key: the key columns as text joined by '/' (not for a consumer "
                                   "whose view shows hashed row keys)")
    key.add_argument("--row-key", help="the row's _row_key as the consumer's view shows it")
    p.add_argument("--item", required=True, help="the item (column) whose value is wrong")
    p.add_argument("--seen", required=True, help="the value the consumer read (masked if it was)")
    p.add_argument("--expected", required=True, help="the value the consumer believes right")
    p.add_argument("--evidence", required=True, help="why: the document, record or check that shows it")
    p.set_defaults(func=_command(cmd_raise))

    p = sub.add_parser("confirm", help="the provider confirms an open objection (a load must then correct it)")
    p.add_argument("id", help="the objection id")
    p.add_argument("--by", required=True, help="who confirms (name, department)")
    p.set_defaults(func=_command(cmd_confirm))

    p = sub.add_parser("reject", help="the provider rejects an open objection, with its reason")
    p.add_argument("id", help="the objection id")
    p.add_argument("--by", required=True, help="who rejects (name, department)")
    p.add_argument("--reason", required=True, help="why the value is right")
    p.set_defaults(func=_command(cmd_reject))

    p = sub.add_parser("list", help="objections with their due times and their times to answer and to resolution")
    p.add_argument("--provider", help="only this provider's (its unified social credit code)")
    p.add_argument("--consumer", help="only this consumer's")
    p.add_argument("--status", help="only: open, confirmed, overdue, resolved or rejected")
    p.set_defaults(func=_command(cmd_list))


def _objection_id(value: str) -> int:
    from baselib.errors import SharingError

    try:
        return _id(value)
    except SharingError:
        raise SharingError(f"{value!r} is not an objection id: give the number `objection list` shows") from None


def _print(o) -> None:
    print(f"objection {o.objection_id}: {o.status}, {o.consumer_code} on {o.resource_code} key {o.record_key} "
          f"item {o.item_name}: seen {o.value_seen!r}, expected {o.value_expected!r}")


def cmd_raise(args, conn) -> None:
    """Raise an objection."""
    from baselib.sharing import objections

    o = objections.raise_objection(
        conn, consumer_code=args.consumer, resource_code=args.resource, item=args.item, value_seen=args.seen,
        value_expected=args.expected, evidence=args.evidence, record_key=args.key, row_key=args.row_key)
    _print(o)
    print(f"routed to provider {o.provider_code}; answer due {_local(o.answer_due_at)} Asia/Shanghai")


def cmd_confirm(args, conn) -> None:
    """Confirm an objection."""
    from baselib.sharing import objections

    o = objections.confirm(conn, _objection_id(args.id), by=args.by)
    _print(o)
    print(f"confirmed by {o.answered_by} at {_local(o.answered_at)} after {o.working_days_to_answer} working days; ",
          end="")
    if o.status == "resolved":
        print(f"already corrected by load {o.resolved_by_load_id} at {_local(o.resolved_at)} Asia/Shanghai: resolved")
    else:
        print(f"to be corrected by a load before {_local(o.correction_due_at)} Asia/Shanghai")


def cmd_reject(args, conn) -> None:
    """Reject an objection."""
    from baselib.sharing import objections

    o = objections.reject(conn, _objection_id(args.id), by=args.by, reason=args.reason)
    _print(o)
    print(f"rejected by {o.answered_by} at {_local(o.answered_at)} after {o.working_days_to_answer} working days: "
          f"{o.answer_reason}")


def cmd_list(args, conn) -> None:
    """The objections as a table."""
    from baselib.sharing import objections

    status = args.status.strip() if args.status else None
    found = objections.list_(conn, provider_code=args.provider, consumer_code=args.consumer, status=status)
    if not found:
        print("no objections" + (" match" if args.provider or args.consumer or status else ""))
        return
    headers, rows = objections.table_rows(found)
    print(_table(headers, rows))
    print(f"{len(found)} objection(s); times Asia/Shanghai; wd = working days, h = hours, both from raising")
