"""The ``evaluation`` command group of ``python -m baselib.cli``: indicators per department and
period, their publication to the evaluation system, and the yearly sharing report.

Light at import (argparse only): each handler's module loads when its command runs. Every command
works on the warehouse (``WAREHOUSE_URL`` or ``AIRFLOW_CONN_WAREHOUSE``) and prints its result on
stdout; bad input prints ``error: …`` on stderr and exits 1, writing nothing.
"""
from __future__ import annotations

import argparse

from baselib.quality.cli import lazy


def _period_args(p, required: bool = False) -> None:
    p.add_argument("--period-kind", choices=("month", "quarter", "year"), default="month")
    p.add_argument("--period", required=required,
                   help="e.g. 2026-11, 2026Q4, 2026 (default: the latest period that has ended)")
    p.add_argument("--department", action="append", help="only this department code (repeatable)")


def register(subparsers) -> None:
    group = subparsers.add_parser("evaluation", help="evaluation: indicators, publishing, the yearly sharing report",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = group.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("compute", help="compute and store the indicators (and flags) of each department for a period")
    _period_args(p)
    p.add_argument("--as-of", help="judge flags at this time (ISO, default: the period's end or now)")
    p.set_defaults(func=lazy("baselib.evaluation.indicators:command_compute"))

    p = sub.add_parser("show", help="print the stored indicators of a period")
    _period_args(p)
    p.set_defaults(func=lazy("baselib.evaluation.indicators:command_show"))

    p = sub.add_parser("publish", help="publish a period's stored indicators to the evaluation system (idempotent)")
    _period_args(p)
    p.set_defaults(func=lazy("baselib.evaluation.publish:command_publish"))

    p = sub.add_parser("publications", help="list publications and failed or refused attempts")
    p.add_argument("--failed", action="store_true", help="only keys whose latest publish did not succeed")
    p.set_defaults(func=lazy("baselib.evaluation.publish:command_list"))

    p = sub.add_parser("report", help="write the yearly sharing report (HTML and PDF) per department and platform")
    p.add_argument("--year", type=int, help="the year reported on (default: the previous year)")
    p.add_argument("--department", action="append",
                   help="only this department code, or 'platform' (repeatable; default: every one + platform)")
    p.add_argument("--output", help="directory: the reports go to DIR/<year>/ (default: reports/yearly)")
    p.set_defaults(func=lazy("baselib.evaluation.yearly_report:command_report"))

    p = sub.add_parser("serve", help="run the simulated evaluation system on loopback until stopped (demo, tests)")
    p.add_argument("--ready-file", help="write its connection URI here once listening")
    p.add_argument("--port", type=int, default=0)
    p.set_defaults(func=lazy("baselib_simulators.evaluation_service:command_serve"))
