"""The ``quality`` command group of ``python -m baselib.cli``: dimension scores, the trend page per
resource, and returns to providers (数据回退).

Light at import (argparse only): each handler's module loads when its command runs. Every command
works on the warehouse (``WAREHOUSE_URL`` or ``AIRFLOW_CONN_WAREHOUSE``) and prints its result on
stdout; bad input prints ``error: …`` on stderr and exits 1, writing nothing.
"""
from __future__ import annotations

import argparse
import importlib


def lazy(target: str):
    """``module:function`` imported when the command runs."""
    module, _, name = target.partition(":")

    def run(args):
        return getattr(importlib.import_module(module), name)(args)

    return run


def register(subparsers) -> None:
    group = subparsers.add_parser("quality", help="quality: dimension scores, trend pages, returns to providers",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = group.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("scores", help="dimension scores and grades of a resource's runs or a provider's period")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--resource", help="catalog code or DAG id: its latest runs")
    who.add_argument("--provider", help="provider code: its scores over --period")
    p.add_argument("--period-kind", choices=("month", "quarter", "year"), default="month")
    p.add_argument("--period", help="e.g. 2026-11, 2026Q4, 2026 (default: the latest period of --period-kind that "
                                    "has ended, Asia/Shanghai)")
    p.add_argument("--runs", type=int, default=10, help="with --resource: how many latest runs (default 10)")
    p.set_defaults(func=lazy("baselib.quality.scoring_cli:command_scores"))

    p = sub.add_parser("trend", help="write the trend page of a resource (or every resource) across its runs")
    p.add_argument("--resource", help="catalog code or DAG id (default: every resource with runs)")
    p.set_defaults(func=lazy("baselib.quality.trend:command_trend"))

    p = sub.add_parser("export", help="write a provider's open quarantine entries and objections as an Excel "
                                      "workbook with Chinese headers (nothing is marked returned)")
    p.add_argument("--provider", required=True, help="provider code (提供方代码) as in the catalog")
    p.add_argument("--output", help="the .xlsx file to write (default: reports/returns/<provider>-<time>.xlsx)")
    p.set_defaults(func=lazy("baselib.quality.returns:command_export"))

    p = sub.add_parser("return", help="drop each provider's workbook into its return folder and mark the "
                                      "entries returned (what the quality_returns DAG does)")
    p.add_argument("--provider", action="append", help="only this provider (repeatable; default: every provider "
                                                       "with open entries)")
    p.set_defaults(func=lazy("baselib.quality.returns:command_return"))
