-- A consumer no longer declared: its approved applications are revoked, so that declaring it again
-- does not bring its old access back (it applies again). Parameter: its code. Returns the revoked ids.
UPDATE sharing.application
SET status = 'revoked', revoked_at = now(), revoked_by = 'consumers file',
    revoke_reason = 'consumer no longer declared in the consumers file'
WHERE consumer_code = %s AND status = 'approved'
RETURNING application_id;
