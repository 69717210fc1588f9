-- Exactly the exported entries become 'returned', and only while still open.
UPDATE ops.quarantine
SET status = 'returned', returned_at = %(now)s, return_id = %(return_id)s
WHERE quarantine_id = ANY(%(ids)s) AND status = 'open'
RETURNING quarantine_id;
