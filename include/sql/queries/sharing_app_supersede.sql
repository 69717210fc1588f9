-- One approved application per (consumer, resource) grants access at a time: among the approved
-- ones whose period (inclusive local dates) covers %(today)s, the most recently approved (decided_at,
-- then application_id; the same order as sharing_app_active and sharing_grants_active_applications).
-- Every other approved application of that consumer and resource whose period also covers %(today)s
-- becomes superseded by it. One approved for a later period stays approved until its period starts
-- (then this runs again, from expire); one whose period is over is left to sharing_app_expire.
-- The parameters consumer_code and resource_code (NULL: all) narrow it.
WITH current_one AS (
    SELECT DISTINCT ON (consumer_code, resource_code) application_id, consumer_code, resource_code
    FROM sharing.application
    WHERE status = 'approved' AND period_start <= %(today)s AND period_end >= %(today)s
      AND (%(consumer_code)s::text IS NULL OR consumer_code = %(consumer_code)s)
      AND (%(resource_code)s::text IS NULL OR resource_code = %(resource_code)s)
    ORDER BY consumer_code, resource_code, decided_at DESC NULLS LAST, application_id DESC
)
UPDATE sharing.application AS a
SET status = 'superseded', superseded_by = c.application_id
FROM current_one AS c
WHERE a.consumer_code = c.consumer_code AND a.resource_code = c.resource_code AND a.status = 'approved'
  AND a.application_id <> c.application_id
  AND a.period_start <= %(today)s AND a.period_end >= %(today)s
RETURNING a.application_id
