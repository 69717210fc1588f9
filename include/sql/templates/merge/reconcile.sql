-- Full reconciliation: keys live in the warehouse but absent from a full extract (the query of
-- templates/merge/absent) were deleted at the source. They are closed in history and flagged,
-- never physically deleted.
CREATE TEMP TABLE {deleted} ON COMMIT DROP AS {absent};

UPDATE {table} AS t SET _deleted_at = %(now)s, _load_id = %(load_id)s
FROM {deleted} AS d WHERE {key_join_td};

UPDATE {history} AS h SET _valid_to = %(now)s, _closed_by_load_id = %(load_id)s
FROM {deleted} AS d WHERE h._valid_to IS NULL AND {key_join_hd};
