-- Move one load's rejected rows from the temp table into ops.quarantine.
-- A row already quarantined (same resource, same content) is not copied again: its
-- last_load_id and times_seen move on, so the officers' work list has no duplicates.
-- Status of an entry seen again (数据回退):
--   resolved -> open again (a later load had accepted its key, and the provider now sends the bad
--               row again: it is back on the work list; the resolution and any earlier return
--               are cleared), unless the load that resolved it is this very load;
--   returned -> stays returned (the provider already has it in a workbook; a corrected row that
--               loads resolves it, include/sql/templates/merge/resolve_quarantine.sql);
--   open     -> stays open.
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
    source_ref = coalesce(excluded.source_ref, q.source_ref),
    status = CASE WHEN q.status = 'resolved' AND q.resolved_by_load_id IS DISTINCT FROM excluded.last_load_id
                  THEN 'open' ELSE q.status END,
    resolved_at = CASE WHEN q.status = 'resolved' AND q.resolved_by_load_id IS DISTINCT FROM excluded.last_load_id
                       THEN NULL ELSE q.resolved_at END,
    resolved_by_load_id = CASE WHEN q.status = 'resolved'
                                    AND q.resolved_by_load_id IS DISTINCT FROM excluded.last_load_id
                               THEN NULL ELSE q.resolved_by_load_id END,
    returned_at = CASE WHEN q.status = 'resolved' AND q.resolved_by_load_id IS DISTINCT FROM excluded.last_load_id
                       THEN NULL ELSE q.returned_at END,
    return_id = CASE WHEN q.status = 'resolved' AND q.resolved_by_load_id IS DISTINCT FROM excluded.last_load_id
                     THEN NULL ELSE q.return_id END;
