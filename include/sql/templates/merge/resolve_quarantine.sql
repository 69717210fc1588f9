-- A key that now loads cleanly (inserted or updated) closes its open quarantine entries:
-- the provider corrected the data it was sent back.
UPDATE ops.quarantine AS q
SET status = 'resolved', resolved_at = %(now)s, resolved_by_load_id = %(load_id)s
FROM {changes} AS c
WHERE q.resource_code = %(resource_code)s
  AND q.status <> 'resolved'
  AND c._change IN ('I', 'U')
  AND q.record_key = concat_ws('/', {key_columns_c});
