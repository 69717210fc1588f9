-- What a department's consumer systems did in a period: applications filed (and of those refused), and
-- measured use of shared views (evaluation.sharing_usage: queries, rows read, resources, days).
-- Parameters: consumer_codes (text[]), period_start, period_end (aware timestamps), first_day, end_day
-- (local dates, [first_day, end_day)).
SELECT (SELECT count(*) FROM sharing.application
        WHERE consumer_code = ANY(%(consumer_codes)s)
          AND submitted_at >= %(period_start)s AND submitted_at < %(period_end)s)              AS applications,
       (SELECT count(*) FROM sharing.application
        WHERE consumer_code = ANY(%(consumer_codes)s) AND status = 'refused'
          AND submitted_at >= %(period_start)s AND submitted_at < %(period_end)s)              AS refused,
       coalesce(sum(u.queries), 0)::bigint                                                     AS queries,
       coalesce(sum(u.rows_read), 0)::bigint                                                   AS rows_read,
       count(DISTINCT u.resource_code)                                                         AS resources,
       count(DISTINCT u.usage_date)                                                            AS days
FROM evaluation.sharing_usage u
WHERE u.consumer_code = ANY(%(consumer_codes)s) AND u.usage_date >= %(first_day)s AND u.usage_date < %(end_day)s;
