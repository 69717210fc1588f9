-- An approval supersedes the consumer's earlier approved applications for the same resource:
-- one approved application per (consumer, resource) is active.
UPDATE sharing.application
SET status = 'superseded', superseded_by = %(application_id)s
WHERE consumer_code = %(consumer_code)s AND resource_code = %(resource_code)s AND status = 'approved'
  AND application_id <> %(application_id)s
RETURNING application_id
