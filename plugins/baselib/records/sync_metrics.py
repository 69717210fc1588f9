"""``evaluation.sync_metrics``: what the evaluation system scores a providing department on.

Timeliness (时效性) is judged when the data was due, not when the platform loaded it
(include/sql/queries/sync_metrics_record.sql): ``judged_at`` is the run's data interval end (else its
logical date) when the run finished later, so a backfill, a cleared old scheduled run or a manual run
of a past day is judged at its own day; ``timeliness_lag_seconds = max(0, judged_at − newest source
update)`` and ``within_update_cycle`` compares that lag with :data:`CYCLE_SECONDS`. A run on time
is still late when the provider's newest data was older than its cycle at that day. ``run_type``:
scheduled / backfill / manual / asset_triggered (the Airflow run id's prefix), else other.
"""
from __future__ import annotations

import datetime as dt

from baselib.catalog.model import UpdateCycle
from baselib.warehouse import sqlfiles

# The longest lag that still counts as on time for each 更新周期 (None: not assessable).
CYCLE_SECONDS: dict[UpdateCycle, int | None] = {
    UpdateCycle.realtime: 3_600,
    UpdateCycle.daily: 86_400,
    UpdateCycle.weekly: 7 * 86_400,
    UpdateCycle.monthly: 31 * 86_400,
    UpdateCycle.quarterly: 92 * 86_400,
    UpdateCycle.half_yearly: 183 * 86_400,
    UpdateCycle.yearly: 366 * 86_400,
    UpdateCycle.other: None,
}


def record(conn, load_id: int, update_cycle: UpdateCycle, newest_source_update: dt.datetime | None, *,
           delivery_based: bool = False) -> None:
    """Upsert the load's sync metrics (one row per ``load_id``; a rerun of ``record`` replaces it).

    ``newest_source_update``: the newest source change the run saw (aware datetime, or None when
    unknown). The newest source update the provider had by ``judged_at`` counts, never a later
    one, so a backfill is judged on the data of its own day: for a table, API or model source the
    newest of ``newest_source_update``, every load's ``ops.load_run.max_source_updated_at`` and
    the resource's watermark that is at or before ``judged_at``; for a file drop
    (``delivery_based``, ``newest_source_update`` ignored) the newest loaded delivery whose
    modification time is at or before ``judged_at``."""
    with conn.cursor() as cur:
        cur.execute(
            sqlfiles.text("queries/sync_metrics_record"),
            {"load_id": load_id, "newest_source_update": newest_source_update, "delivery_based": delivery_based,
             "cycle_seconds": CYCLE_SECONDS[update_cycle]},
        )
