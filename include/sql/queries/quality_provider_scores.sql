-- A provider's dimension scores over a period: elements and failures summed per dimension over the
-- loads that count, so that a later run replaces an earlier one of the same day only when it
-- re-judged the same data. The data day is the run's data interval start, else its logical date, else
-- the day it started, in Asia/Shanghai (coalesce(data_interval_start, logical_date, started_at): the
-- evaluation's one rule, evaluation_ind_loads.sql; the period filter uses the same expression). A load of the provider's resources in the period counts when it is
--   * the latest non-incremental load of its resource and data day: a full or reconcile extract of a
--     table, API or model source re-judges everything, so a rerun or a backfill of the day replaces,
--     never doubles, the day (for a file drop this is the day's latest run: its own elements, the
--     source read and timeliness);
--   * an incremental load (each judged its own rows: every one counts);
--   * the latest load to have judged a delivered file (ops.file_delivery.load_id): each delivery's
--     latest judgement counts once, so a later run of the day that finds no new file does not erase
--     the files (rejected ones included) an earlier run judged.
-- Parameters: provider_code, period_start, period_end (aware timestamps, [start, end)).
WITH runs AS (
    SELECT DISTINCT r.load_id, r.resource_code, r.mode,
           (coalesce(r.data_interval_start, r.logical_date, r.started_at) AT TIME ZONE 'Asia/Shanghai')::date AS data_day
    FROM ops.load_run r
    JOIN evaluation.quality_score s ON s.load_id = r.load_id
    WHERE s.provider_code = %(provider_code)s
      AND coalesce(r.data_interval_start, r.logical_date, r.started_at) >= %(period_start)s
      AND coalesce(r.data_interval_start, r.logical_date, r.started_at) < %(period_end)s
), counted AS (
    (SELECT DISTINCT ON (resource_code, data_day) load_id
     FROM runs
     WHERE mode <> 'incremental'
     ORDER BY resource_code, data_day, load_id DESC)
    UNION
    SELECT load_id FROM runs WHERE mode = 'incremental'
    UNION
    SELECT runs.load_id FROM runs
    WHERE EXISTS (SELECT 1 FROM ops.file_delivery d WHERE d.load_id = runs.load_id)
)
SELECT s.dimension, sum(s.checks)::bigint, sum(s.elements)::bigint, sum(s.failed)::bigint, count(DISTINCT s.load_id)
FROM evaluation.quality_score s
JOIN counted c ON c.load_id = s.load_id
WHERE s.dimension <> 'overall'
GROUP BY s.dimension
