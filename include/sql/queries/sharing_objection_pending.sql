-- The consumer's pending (open or confirmed) objection to the same item of the same row, if any:
-- raising it again is refused (partial unique index objection_pending_once).
SELECT objection_id, status
FROM sharing.objection
WHERE consumer_code = %(consumer_code)s AND resource_code = %(resource_code)s AND record_key = %(record_key)s
  AND item_name = %(item_name)s AND status IN ('open', 'confirmed')
ORDER BY objection_id
LIMIT 1;
