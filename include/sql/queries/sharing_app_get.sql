-- One application: every column, in the order of baselib.sharing.applications.Application.
SELECT application_id, consumer_code, resource_code, provider_code, sharing_type, items, personal, purpose,
       legal_basis, period_start, period_end, status, submitted_at, response_limit_days, due_at, decided_at,
       decided_by, decision_reason, response_working_days, revoked_at, revoked_by, revoke_reason, superseded_by
FROM sharing.application
WHERE application_id = %(application_id)s
