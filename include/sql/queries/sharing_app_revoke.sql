-- Revoke an approved application.
UPDATE sharing.application
SET status = 'revoked', revoked_at = %(revoked_at)s, revoked_by = %(revoked_by)s, revoke_reason = %(revoke_reason)s
WHERE application_id = %(application_id)s AND status = 'approved'
