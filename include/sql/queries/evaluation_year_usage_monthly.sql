-- The yearly sharing report: measured use (queries, rows read) of a provider's resources per month.
-- Parameters: start_date, end_date (local dates, [start, end)); provider_code (NULL: every provider).
SELECT to_char(usage_date, 'YYYY-MM') AS month,
       coalesce(sum(queries), 0)::bigint AS queries,
       coalesce(sum(rows_read), 0)::bigint AS rows_read
FROM evaluation.sharing_usage
WHERE usage_date >= %(start_date)s AND usage_date < %(end_date)s
  AND (%(provider_code)s::text IS NULL OR provider_code = %(provider_code)s)
GROUP BY 1
ORDER BY 1
