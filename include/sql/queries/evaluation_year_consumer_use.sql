-- The yearly sharing report: measured use by each consumer system over the year (what it read of
-- every provider's resources).
-- Parameters: start_date, end_date (local dates, [start, end)).
SELECT consumer_code,
       coalesce(sum(queries), 0)::bigint AS queries,
       coalesce(sum(rows_read), 0)::bigint AS rows_read,
       count(DISTINCT resource_code) FILTER (WHERE queries > 0)::bigint AS resources
FROM evaluation.sharing_usage
WHERE usage_date >= %(start_date)s AND usage_date < %(end_date)s
GROUP BY consumer_code
