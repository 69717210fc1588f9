-- The yearly sharing report (platform): loads, rows delivered and loaded, and loads on time per provider
-- over the year (data day as in evaluation_year_sync_monthly.sql).
-- Parameters: period_start, period_end (aware timestamps, [start, end)).
SELECT provider_code,
       count(*)::bigint AS loads,
       coalesce(sum(rows_extracted), 0)::bigint AS rows_delivered,
       coalesce(sum(rows_inserted + rows_updated), 0)::bigint AS rows_loaded,
       count(within_update_cycle)::bigint AS judged,
       count(*) FILTER (WHERE within_update_cycle)::bigint AS within_cycle
FROM evaluation.sync_metrics
WHERE coalesce(logical_date, loaded_at) >= %(period_start)s
  AND coalesce(logical_date, loaded_at) < %(period_end)s
GROUP BY provider_code
