-- A provider's dimension scores over a period: the latest load per resource and data day (a rerun or a
-- backfill replaces its day), elements and failures summed per dimension. The data day is the run's
-- logical date, else the day it started, in Asia/Shanghai.
-- Parameters: provider_code, period_start, period_end (aware timestamps, [start, end)).
WITH latest AS (
    SELECT DISTINCT ON (r.resource_code, (coalesce(r.logical_date, r.started_at) AT TIME ZONE 'Asia/Shanghai')::date)
           r.load_id
    FROM ops.load_run r
    JOIN evaluation.quality_score s ON s.load_id = r.load_id
    WHERE s.provider_code = %(provider_code)s
      AND coalesce(r.logical_date, r.started_at) >= %(period_start)s
      AND coalesce(r.logical_date, r.started_at) < %(period_end)s
    ORDER BY r.resource_code, (coalesce(r.logical_date, r.started_at) AT TIME ZONE 'Asia/Shanghai')::date,
             r.load_id DESC
)
SELECT s.dimension, sum(s.checks)::bigint, sum(s.elements)::bigint, sum(s.failed)::bigint, count(DISTINCT s.load_id)
FROM evaluation.quality_score s
JOIN latest l ON l.load_id = s.load_id
WHERE s.dimension <> 'overall'
GROUP BY s.dimension
