-- Apply the classified changes. One transaction; every statement is set-based.
-- Inserts go in key order: B-tree inserts then land on neighbouring pages instead of random ones.
INSERT INTO {table} ({column_names}, _row_hash, _load_id, _first_loaded_at, _loaded_at, _delivery_id)
SELECT {column_names}, _row_hash, %(load_id)s, %(now)s, %(now)s, _delivery_id FROM {changes} WHERE _change = 'I'
ORDER BY {key_columns};

UPDATE {table} AS t
SET {assignments}, _row_hash = c._row_hash, _load_id = %(load_id)s, _loaded_at = %(now)s, _deleted_at = NULL,
    _delivery_id = c._delivery_id
FROM {changes} AS c
WHERE c._change = 'U' AND {key_join_tc};

UPDATE {history} AS h
SET _valid_to = %(now)s, _closed_by_load_id = %(load_id)s
FROM {changes} AS c
WHERE c._change = 'U' AND h._valid_to IS NULL AND {key_join_hc};

INSERT INTO {history} ({column_names}, _row_hash, _valid_from, _load_id, _change, _delivery_id)
SELECT {column_names}, _row_hash, %(now)s, %(load_id)s, _change, _delivery_id FROM {changes} WHERE _change IN ('I', 'U')
ORDER BY {key_columns};
