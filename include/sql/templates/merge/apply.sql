-- Apply the classified changes. One transaction; every statement is set-based.
-- Close the open versions of changed (and reappearing) keys, then open their new versions.
-- Inserts go in key order: B-tree inserts then land on neighbouring pages instead of random ones.
UPDATE {history} AS h
SET _valid_to = %(now)s, _closed_by_load_id = %(load_id)s
FROM {changes} AS c
WHERE c._change = 'U' AND h._valid_to IS NULL AND {key_join_hc};

INSERT INTO {history} ({column_names}, _row_hash, _valid_from, _load_id, _change, _delivery_id, _first_loaded_at)
SELECT {column_names}, _row_hash, %(now)s, %(load_id)s, _change, _delivery_id, coalesce(_first_loaded_at, %(now)s)
FROM {changes} WHERE _change IN ('I', 'U')
ORDER BY {key_columns};
