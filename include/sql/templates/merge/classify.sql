-- Compare every staged row with the current version, by key and row hash.
--   I: new key; U: changed (or reappearing after a deletion); N: unchanged;
--   S: stale, the warehouse already holds a newer version (an old interval backfilled late).
CREATE TEMP TABLE {changes} ON COMMIT DROP AS
SELECT s.*,
       CASE
           WHEN t.{first_key} IS NULL THEN 'I'
           WHEN {stale_condition} THEN 'S'
           WHEN t._deleted_at IS NOT NULL OR t._row_hash <> s._row_hash THEN 'U'
           ELSE 'N'
       END AS _change
FROM (SELECT *, md5(ROW({column_names})::text) AS _row_hash FROM {staging}) AS s
LEFT JOIN {table} AS t ON {key_join};
