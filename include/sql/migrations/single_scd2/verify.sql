-- Keys whose open version, read as the new base view reads it, differs from the old table's row
-- (or exists on one side only). A deleted key's load time is the deletion in the new layout.
SELECT count(*)
FROM {table} AS t
FULL JOIN (SELECT * FROM {history} WHERE _valid_to IS NULL) AS h ON {key_join_ht}
WHERE ROW({column_names_t}, t._row_hash, t._load_id, t._first_loaded_at, t._deleted_at, t._delivery_id,
          CASE WHEN t._deleted_at IS NULL THEN t._loaded_at END)
      IS DISTINCT FROM
      ROW({column_names_h}, h._row_hash, h._load_id, h._first_loaded_at, h._deleted_at, h._delivery_id,
          CASE WHEN h._deleted_at IS NULL THEN h._valid_from END)
