-- A delivery's rows are merged: record what became of each of them.
UPDATE ops.file_delivery
SET status = 'loaded', reason = NULL, processed_at = now(),
    rows_inserted = %(rows_inserted)s, rows_updated = %(rows_updated)s,
    rows_unchanged = %(rows_unchanged)s, rows_quarantined = %(rows_quarantined)s
WHERE delivery_id = %(delivery_id)s;
