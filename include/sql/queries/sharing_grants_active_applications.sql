-- The sharing applications that justify a consumer view now: approved, of an active consumer,
-- whose period (Asia/Shanghai dates, inclusive) covers the parameter now; the latest decided one per
-- (consumer, resource) should two be approved. ends_at: 00:00 in the parameter zone on the day after
-- period_end, when access ends. The parameters consumer and resource (NULL: all) narrow the result.
SELECT DISTINCT ON (a.consumer_code, a.resource_code)
       a.application_id, a.consumer_code, c.role_name, c.share_schema, a.resource_code, a.sharing_type,
       a.items, a.personal, a.period_start, a.period_end,
       ((a.period_end + 1)::timestamp AT TIME ZONE %(zone)s) AS ends_at
FROM sharing.application AS a
JOIN sharing.consumer AS c ON c.consumer_code = a.consumer_code
WHERE a.status = 'approved'
  AND c.active
  AND a.period_start <= (%(now)s::timestamptz AT TIME ZONE %(zone)s)::date
  AND %(now)s::timestamptz < ((a.period_end + 1)::timestamp AT TIME ZONE %(zone)s)
  AND (%(consumer)s::text IS NULL OR a.consumer_code = %(consumer)s::text)
  AND (%(resource)s::text IS NULL OR a.resource_code = %(resource)s::text)
ORDER BY a.consumer_code, a.resource_code, a.decided_at DESC NULLS LAST, a.application_id DESC;
