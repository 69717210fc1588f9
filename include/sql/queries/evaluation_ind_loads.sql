-- A provider's loads over a period for the timeliness and quarantine-rate indicators: the latest load per
-- resource and data day (a rerun or a backfill replaces its day, as quality_provider_scores), the data day
-- being the run's logical date, else the day it started, in Asia/Shanghai.
-- Parameters: provider_code, period_start, period_end (aware timestamps, [start, end)).
WITH latest AS (
    SELECT DISTINCT ON (m.resource_code, (coalesce(r.logical_date, r.started_at) AT TIME ZONE 'Asia/Shanghai')::date)
           m.resource_code, m.within_update_cycle, m.rows_extracted, m.rows_quarantined
    FROM evaluation.sync_metrics m
    JOIN ops.load_run r ON r.load_id = m.load_id
    WHERE m.provider_code = %(provider_code)s
      AND coalesce(r.logical_date, r.started_at) >= %(period_start)s
      AND coalesce(r.logical_date, r.started_at) < %(period_end)s
    ORDER BY m.resource_code, (coalesce(r.logical_date, r.started_at) AT TIME ZONE 'Asia/Shanghai')::date,
             m.load_id DESC
)
SELECT count(*)                                               AS loads,
       count(DISTINCT resource_code)                          AS resources,
       count(*) FILTER (WHERE within_update_cycle IS NOT NULL) AS judged,
       count(*) FILTER (WHERE within_update_cycle)            AS on_time,
       coalesce(sum(rows_extracted), 0)::bigint               AS rows_extracted,
       coalesce(sum(rows_quarantined), 0)::bigint             AS rows_quarantined
FROM latest;
