-- The merge hook after a reconcile: a confirmed objection to a row the load just deleted at the
-- source (a tombstone opened by this load; {deleted}: the deleted keys, {record_key} the record key
-- expression of their key columns) is resolved by that load: the wrong value is no longer served.
UPDATE sharing.objection
SET status = 'resolved', resolved_at = %(now)s, resolved_by_load_id = %(load_id)s
WHERE resource_code = %(resource_code)s
  AND status = 'confirmed'
  AND record_key IN (SELECT {record_key} FROM {deleted});
