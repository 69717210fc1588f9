-- Applications in filing order, optionally of one consumer, of one status, and only the overdue ones
-- (submitted, past due_at) or only the others. Columns as sharing_app_get.
SELECT application_id, consumer_code, resource_code, provider_code, sharing_type, items, personal, purpose,
       legal_basis, period_start, period_end, status, submitted_at, response_limit_days, due_at, decided_at,
       decided_by, decision_reason, response_working_days, revoked_at, revoked_by, revoke_reason, superseded_by
FROM sharing.application
WHERE (%(consumer_code)s::text IS NULL OR consumer_code = %(consumer_code)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(overdue)s::boolean IS NULL OR (status = 'submitted' AND due_at <= %(now)s) = %(overdue)s)
ORDER BY application_id
