-- Approved applications whose period (inclusive local dates) ended before %(today)s become expired.
UPDATE sharing.application
SET status = 'expired'
WHERE status = 'approved' AND period_end < %(today)s
RETURNING application_id
