"""``evaluation.sync_metrics``: what the evaluation system scores a providing department on."""
from __future__ import annotations

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


def record(conn, load_id: int, update_cycle: UpdateCycle, newest_source_update) -> None:
    with conn.cursor() as cur:
        cur.execute(
            sqlfiles.text("queries/sync_metrics_record"),
            {"load_id": load_id, "newest_source_update": newest_source_update,
             "cycle_seconds": CYCLE_SECONDS[update_cycle]},
        )
