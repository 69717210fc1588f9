-- The loads the evaluation counts (timeliness, quarantine rate, and the yearly report's loads and volumes
-- by month and provider: one rule, this query), one row per load whose data day falls in a period.
-- Data day (one rule everywhere): the run's data interval start, else its logical date, else the day it
-- started, as a local date in Asia/Shanghai: coalesce(data_interval_start, logical_date, started_at). A
-- daily run for [11-01, 11-02) has data day 11-01 whatever its logical date (a manual `airflow dags test
-- <dag> 2026-11-02` has logical date 11-02); a run without an interval started at 23:30 on the last day of
-- a month belongs to that month, whenever it finished. The period filter uses the same expression.
--   latest_of_day: the latest load of its resource and data day (a rerun or a backfill replaces its day):
--     timeliness judges the provider once per resource and data day, on this load.
--   counts_rows: its rows count (extracted, quarantined, loaded): a full extract (mode full/reconcile)
--     re-reads the same data, so only the latest of the day counts; incremental loads each bring their
--     own rows and each count, and so does a load that judged delivered files (a file drop's rows come
--     from its deliveries, whatever the mode) (the quality scores' rule).
-- Parameters: provider_code (NULL: every provider), period_start, period_end (aware timestamps, [start, end)).
WITH l AS (
    SELECT m.load_id, m.provider_code, m.resource_code, m.within_update_cycle, m.rows_extracted,
           m.rows_quarantined, m.rows_inserted + m.rows_updated AS rows_loaded, r.mode,
           (coalesce(r.data_interval_start, r.logical_date, r.started_at) AT TIME ZONE 'Asia/Shanghai')::date AS data_day
    FROM evaluation.sync_metrics m
    JOIN ops.load_run r ON r.load_id = m.load_id
    WHERE (%(provider_code)s::text IS NULL OR m.provider_code = %(provider_code)s::text)
      AND coalesce(r.data_interval_start, r.logical_date, r.started_at) >= %(period_start)s
      AND coalesce(r.data_interval_start, r.logical_date, r.started_at) < %(period_end)s
), ranked AS (
    SELECT l.*, row_number() OVER (PARTITION BY l.resource_code, l.data_day ORDER BY l.load_id DESC) = 1
                    AS latest_of_day
    FROM l
)
SELECT load_id, provider_code, resource_code, data_day, to_char(data_day, 'YYYY-MM') AS month,
       within_update_cycle, rows_extracted, rows_quarantined, rows_loaded, latest_of_day,
       latest_of_day OR mode NOT IN ('full', 'reconcile')
           OR EXISTS (SELECT 1 FROM ops.file_delivery d WHERE d.load_id = ranked.load_id) AS counts_rows
FROM ranked
ORDER BY provider_code, resource_code, data_day, load_id;
