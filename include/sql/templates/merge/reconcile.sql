-- Full reconciliation: keys live in the warehouse but absent from a full extract (the query of
-- templates/merge/absent) were deleted at the source. Their open version is closed and a
-- tombstone opens (_change 'D', items copied, _deleted_at set): never physically deleted, and
-- the key keeps exactly one open version.
CREATE TEMP TABLE {deleted} ON COMMIT DROP AS {absent};

WITH closed AS (
    UPDATE {history} AS h SET _valid_to = %(now)s, _closed_by_load_id = %(load_id)s
    FROM {deleted} AS d WHERE h._valid_to IS NULL AND {key_join_hd}
    RETURNING h.*
)
INSERT INTO {history} ({column_names}, _row_hash, _valid_from, _load_id, _change, _delivery_id, _first_loaded_at,
                       _deleted_at)
SELECT {column_names}, _row_hash, %(now)s, %(load_id)s, 'D', _delivery_id, _first_loaded_at, %(now)s
FROM closed;
