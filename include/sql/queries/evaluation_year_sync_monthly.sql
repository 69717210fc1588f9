-- The yearly sharing report: loads per month of the data day (the run's logical date, else when it
-- loaded, in Asia/Shanghai): rows delivered (extracted) and loaded (inserted + updated), and loads
-- judged on time (within_update_cycle; NULL = not judged, e.g. update cycle 其他).
-- Parameters: period_start, period_end (aware timestamps, [start, end)); provider_code (NULL: all).
SELECT to_char(coalesce(logical_date, loaded_at) AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month,
       count(*)::bigint AS loads,
       coalesce(sum(rows_extracted), 0)::bigint AS rows_delivered,
       coalesce(sum(rows_inserted + rows_updated), 0)::bigint AS rows_loaded,
       count(within_update_cycle)::bigint AS judged,
       count(*) FILTER (WHERE within_update_cycle)::bigint AS within_cycle,
       count(DISTINCT resource_code)::bigint AS resources
FROM evaluation.sync_metrics
WHERE coalesce(logical_date, loaded_at) >= %(period_start)s
  AND coalesce(logical_date, loaded_at) < %(period_end)s
  AND (%(provider_code)s::text IS NULL OR provider_code = %(provider_code)s)
GROUP BY 1
ORDER BY 1
