-- The applications that grant access now: approved, the consumer still declared (active), and the
-- period (inclusive local dates) covering %(today)s; at most one per (consumer, resource): the most
-- recently approved (as sharing_app_supersede and sharing_grants_active_applications).
-- Columns as sharing_app_get.
SELECT * FROM (
    SELECT DISTINCT ON (consumer_code, resource_code)
           application_id, consumer_code, resource_code, provider_code, sharing_type, items, personal, purpose,
           legal_basis, period_start, period_end, status, submitted_at, response_limit_days, due_at, decided_at,
           decided_by, decision_reason, response_working_days, revoked_at, revoked_by, revoke_reason, superseded_by
    FROM sharing.application
    WHERE status = 'approved' AND period_start <= %(today)s AND period_end >= %(today)s
      AND (%(consumer_code)s::text IS NULL OR consumer_code = %(consumer_code)s)
      AND consumer_code IN (SELECT consumer_code FROM sharing.consumer WHERE active)
    ORDER BY consumer_code, resource_code, decided_at DESC NULLS LAST, application_id DESC
) AS one_per_resource
ORDER BY consumer_code, resource_code, application_id
