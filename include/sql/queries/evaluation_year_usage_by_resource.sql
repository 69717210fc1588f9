-- The yearly sharing report: measured use per resource over the year: queries, rows read and the
-- consumers that queried it (text[]).
-- Parameters: start_date, end_date (local dates, [start, end)); provider_code (NULL: every provider).
SELECT resource_code,
       coalesce(sum(queries), 0)::bigint AS queries,
       coalesce(sum(rows_read), 0)::bigint AS rows_read,
       coalesce(array_agg(DISTINCT consumer_code) FILTER (WHERE queries > 0), '{}') AS consumers
FROM evaluation.sharing_usage
WHERE usage_date >= %(start_date)s AND usage_date < %(end_date)s
  AND (%(provider_code)s::text IS NULL OR provider_code = %(provider_code)s)
GROUP BY resource_code
ORDER BY resource_code
