"""The daily DAG ``quality_returns`` (数据回退): what the platform rejected goes back to the
department that delivered it.

Tasks:

1. ``list_providers``: the shared DDL, then the provider codes with open ``ops.quarantine``
   entries of their resources or pending objections no return carried yet
   (:func:`baselib.quality.returns.providers_to_return`). Returns the list of codes.
2. ``drop_return`` (dynamic task mapping, one mapped instance per provider): the provider's
   workbook written to ``<BASELIB_RETURNS_URL>/<provider>/退回-<provider>-<YYYYmmddTHHMMSS>.xlsx``
   and its entries marked ``returned`` in one transaction under a per-provider advisory lock
   (:func:`baselib.quality.returns.drop`). Returns a small dict: ``{"provider_code", "return_id",
   "uri", "quarantine_entries", "objections"}`` (``return_id``/``uri`` None when another run had
   already sent everything). A failed upload marks nothing; the retry, or the next day's run,
   sends the same entries.
3. ``summarize`` (trigger rule ``none_failed``: it also runs when no provider had anything and
   the mapped task had zero instances): logs one line per provider and the totals; returns
   ``{"returns": n, "quarantine_entries": m, "objections": k}``.

Every run, whatever its type (scheduled, manual, backfill), does the same as a current run:
returns are about what is open now, not about the run's logical date, and a run that finds
nothing new writes nothing (so a backfill over many days sends at most one workbook per provider).

Runs at 08:00 Asia/Shanghai, at the start of the providers' working day; catchup off.
Module level imports only the Task SDK; the engine loads inside the tasks.
"""
from __future__ import annotations

import logging

from airflow.sdk import dag, task

from baselib.orchestration.schedules import platform_dag_args

DAG_ID = "quality_returns"
DESCRIPTION = ("Returns to providers (数据回退): open quarantine entries and pending objections as a workbook in each "
               "provider's return folder")
SCHEDULE = "0 8 * * *"  # 08:00 every day, Asia/Shanghai

log = logging.getLogger(__name__)


def _connect():
    from baselib.warehouse import connections

    return connections.connect("warehouse")


def list_providers() -> list[str]:
    """Task body of ``list_providers``: the provider codes with something to send back."""
    from baselib.quality import returns
    from baselib.warehouse import schema

    conn = _connect()
    try:
        schema.ensure(conn, [])  # shared DDL: the return tables exist on a fresh warehouse
        codes = returns.providers_to_return(conn)
    finally:
        conn.close()
    log.info("providers with something to return: %s", ", ".join(codes) or "none")
    return codes


def drop_return(provider_code: str, run_id: str) -> dict:
    """Task body of one ``drop_return`` instance: see the module docstring. A return folder that
    cannot be written raises :class:`baselib.quality.returns.ReturnNotWritten` (the provider named,
    nothing marked): this instance fails, the other providers' instances still run."""
    from baselib.quality import returns

    result = returns.drop(_connect, provider_code, run_id=run_id)
    if result is None:
        log.info("provider %s: nothing left to return (already sent)", provider_code)
        return {"provider_code": provider_code, "return_id": None, "uri": None, "quarantine_entries": 0,
                "objections": 0}
    log.info("provider %s: %s", provider_code, result["uri"])
    return result


def summarize(results: list[dict]) -> dict:
    """Task body of ``summarize``: logs each provider's return and the totals."""
    results = [r for r in results if r]
    for r in results:
        log.info("return %s: provider %s, %d rejected row(s), %d objection(s) -> %s", r["return_id"],
                 r["provider_code"], r["quarantine_entries"], r["objections"], r["uri"] or "nothing written")
    totals = {"returns": sum(1 for r in results if r["return_id"] is not None),
              "quarantine_entries": sum(r["quarantine_entries"] for r in results),
              "objections": sum(r["objections"] for r in results)}
    log.info("returns: %(returns)d workbook(s), %(quarantine_entries)d rejected row(s), %(objections)d "
             "objection(s)", totals)
    return totals


def build_dag():
    """The ``quality_returns`` DAG (see the module docstring)."""

    @dag(**platform_dag_args(
        DAG_ID, doc_md=__doc__, cron=SCHEDULE, concern="quality",
        description=DESCRIPTION))
    def quality_returns():
        @task(task_id="list_providers")
        def list_providers_task() -> list[str]:
            return list_providers()

        @task(task_id="drop_return")
        def drop_return_task(provider_code: str, **context) -> dict:
            return drop_return(provider_code, context["run_id"])

        @task(task_id="summarize", trigger_rule="none_failed")  # also after zero mapped drops
        def summarize_task(results) -> dict:
            # by index up to len(): iterating the lazy sequence probes one offset past its end, which
            # Airflow's client logs as an error ("XCom not found") although nothing is wrong
            return summarize([results[i] for i in range(len(results))])

        summarize_task(drop_return_task.expand(provider_code=list_providers_task()))

    return quality_returns()
