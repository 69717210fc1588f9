-- Record a delivery seen by a load. A file seen before (same resource, path and content) keeps
-- its id and first load; its attempt count, latest load and outcome move on.
INSERT INTO ops.file_delivery AS d
    (resource_code, path, size_bytes, content_sha256, modified_at, format, encoding, status, reason,
     rejected_path, load_id, first_load_id, ignored_columns, ignored_rows, rows_read, processed_at)
VALUES (%(resource_code)s, %(path)s, %(size_bytes)s, %(content_sha256)s, %(modified_at)s, %(format)s,
        %(encoding)s, %(status)s, %(reason)s, %(rejected_path)s, %(load_id)s, %(load_id)s,
        %(ignored_columns)s, %(ignored_rows)s, %(rows_read)s,
        CASE WHEN %(status)s = 'pending' THEN NULL ELSE now() END)
ON CONFLICT (resource_code, path, content_sha256) DO UPDATE SET
    status = excluded.status,
    reason = excluded.reason,
    rejected_path = excluded.rejected_path,
    modified_at = excluded.modified_at,
    format = excluded.format,
    encoding = excluded.encoding,
    ignored_columns = excluded.ignored_columns,
    ignored_rows = excluded.ignored_rows,
    rows_read = excluded.rows_read,
    rows_superseded = NULL, rows_inserted = NULL, rows_updated = NULL, rows_unchanged = NULL,
    rows_quarantined = NULL,
    load_id = excluded.load_id,
    attempts = d.attempts + 1,
    processed_at = excluded.processed_at
RETURNING delivery_id;
