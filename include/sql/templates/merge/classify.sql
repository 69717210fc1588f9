-- Compare every staged row with its key's open version: one join through the partial unique index.
--   I: new key; S: stale, the open version is newer (an old interval backfilled late);
--   U: changed, or reappearing after a deletion (the open version is a tombstone);
--   N: same row hash; R: another hash but the same values (a hash from another algorithm, e.g. md5
--      from a migrated warehouse): unchanged, and the open version's hash is rewritten in place.
-- _first_loaded_at carries the key's first load to its new version.
CREATE TEMP TABLE {changes} ON COMMIT DROP AS
SELECT s.*,
       CASE
           WHEN h._valid_from IS NULL THEN 'I'
           WHEN {stale_condition} THEN 'S'
           WHEN h._deleted_at IS NOT NULL THEN 'U'
           WHEN h._row_hash = s._row_hash THEN 'N'
           WHEN ROW({column_names_h}) IS NOT DISTINCT FROM ROW({column_names_s}) THEN 'R'
           ELSE 'U'
       END AS _change,
       h._first_loaded_at AS _first_loaded_at
FROM {staging} AS s
LEFT JOIN {history} AS h ON {key_join} AND h._valid_to IS NULL;
