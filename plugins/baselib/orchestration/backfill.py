"""``python -m baselib.cli backfill``: ``airflow backfill create`` with dates read in Asia/Shanghai.

(Skeleton from the groundwork commit; the command is filled in by the backfill work.)
"""
from __future__ import annotations


def register(sub) -> None:
    """Add the ``backfill`` sub-command to the ``baselib.cli`` parser ``sub``."""
    parser = sub.add_parser("backfill", help="airflow backfill create, dates in Asia/Shanghai")

    def _not_yet(args) -> None:
        raise SystemExit("backfill: not implemented yet")

    parser.set_defaults(func=_not_yet)
