-- Full reconciliation: keys live in the warehouse but absent from a full extract were deleted
-- at the source. They are closed in history and flagged, never physically deleted.
-- {extracted_keys} holds every key of the extract, quarantined rows included.
CREATE TEMP TABLE {deleted} ON COMMIT DROP AS
SELECT {key_columns_t} FROM {table} AS t
WHERE t._deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM {extracted_keys} AS k WHERE {key_join_tk});

UPDATE {table} AS t SET _deleted_at = %(now)s, _load_id = %(load_id)s
FROM {deleted} AS d WHERE {key_join_td};

UPDATE {history} AS h SET _valid_to = %(now)s, _closed_by_load_id = %(load_id)s
FROM {deleted} AS d WHERE h._valid_to IS NULL AND {key_join_hd};
