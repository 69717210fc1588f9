"""Default schedules derived from a resource's 更新周期 (update cycle)."""
from __future__ import annotations

from baselib.catalog.model import Resource, UpdateCycle

CRON: dict[UpdateCycle, str | None] = {
    UpdateCycle.realtime: "@hourly",
    UpdateCycle.daily: "@daily",
    UpdateCycle.weekly: "@weekly",
    UpdateCycle.monthly: "@monthly",
    UpdateCycle.quarterly: "0 0 1 1,4,7,10 *",
    UpdateCycle.half_yearly: "0 0 1 1,7 *",
    UpdateCycle.yearly: "@yearly",
    UpdateCycle.other: None,  # triggered by hand or by an asset
}
TIMEZONE = "Asia/Shanghai"


def cron_for(resource: Resource) -> str | None:
    return resource.pipeline.schedule or CRON[resource.update_cycle]
