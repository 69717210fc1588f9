-- The old layout closed a deleted key's version and flagged its current row; a key that came back
-- got a new version later. Each such gap becomes a tombstone: from the closing instant to the next
-- version (open when there is none), items and hash copied, _deleted_at set.
INSERT INTO {history} ({column_names}, _row_hash, _valid_from, _valid_to, _load_id, _closed_by_load_id, _change,
                       _delivery_id, _first_loaded_at, _deleted_at)
SELECT {column_names}, _row_hash, _valid_to, next_from, coalesce(_closed_by_load_id, _load_id), next_load, 'D',
       _delivery_id, _first_loaded_at, _valid_to
FROM (
    SELECT h.*, lead(h._valid_from) OVER w AS next_from, lead(h._load_id) OVER w AS next_load
    FROM {history} AS h
    WINDOW w AS (PARTITION BY {key_columns} ORDER BY h._valid_from)
) AS v
WHERE _valid_to IS NOT NULL AND _change <> 'D' AND next_from IS DISTINCT FROM _valid_to;
