-- Move one load's rejected rows from the temp table into ops.quarantine.
-- A row already quarantined (same resource, same content) is not copied again: its
-- last_load_id and times_seen move on, so the officers' work list has no duplicates.
INSERT INTO ops.quarantine AS q
    (resource_code, load_id, last_load_id, record_key, source_row, failed_expectations, reason, row_fingerprint,
     delivery_id, source_ref)
SELECT DISTINCT ON (md5(source_row))
       %(resource_code)s, %(load_id)s, %(load_id)s, record_key, source_row::jsonb,
       failed_expectations::jsonb, reason, md5(source_row), delivery_id, source_ref
FROM pg_temp.rejected_rows
ORDER BY md5(source_row)
ON CONFLICT (resource_code, row_fingerprint) DO UPDATE SET
    last_load_id = excluded.last_load_id,
    times_seen = q.times_seen + (q.last_load_id <> excluded.last_load_id)::int,
    last_seen_at = now(),
    reason = excluded.reason,
    failed_expectations = excluded.failed_expectations,
    delivery_id = coalesce(excluded.delivery_id, q.delivery_id),   -- the latest delivery that sent it
    source_ref = coalesce(excluded.source_ref, q.source_ref);
