-- Approve or refuse a submitted application.
UPDATE sharing.application
SET status = %(status)s, decided_at = %(decided_at)s, decided_by = %(decided_by)s,
    decision_reason = %(decision_reason)s, response_working_days = %(response_working_days)s
WHERE application_id = %(application_id)s AND status = 'submitted'
