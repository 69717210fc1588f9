-- The yearly sharing report: applications the department's consumer systems submitted in the year,
-- per system (same counting as evaluation_year_applications_received.sql).
-- Parameters: period_start, period_end (aware timestamps, [start, end)); department_code (NULL: all).
SELECT c.consumer_code,
       count(a.application_id)::bigint AS submitted,
       count(a.application_id) FILTER (WHERE a.decided_at IS NOT NULL AND a.status <> 'refused')::bigint AS approved,
       count(a.application_id) FILTER (WHERE a.status = 'refused')::bigint AS refused,
       count(a.application_id) FILTER (WHERE a.decided_at IS NULL)::bigint AS pending
FROM sharing.consumer c
LEFT JOIN sharing.application a
       ON a.consumer_code = c.consumer_code
      AND a.submitted_at >= %(period_start)s AND a.submitted_at < %(period_end)s
WHERE (%(department_code)s::text IS NULL OR c.department_code = %(department_code)s)
GROUP BY c.consumer_code
ORDER BY c.consumer_code
