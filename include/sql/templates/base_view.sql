-- The base table's name as a simple (auto-updatable) view of the open versions, with the columns
-- the two-table layout's current table had: deleted keys show with _deleted_at set.
CREATE OR REPLACE VIEW {table} AS
    SELECT {column_names}, _row_hash, _load_id, _first_loaded_at, _valid_from AS _loaded_at, _deleted_at,
           _delivery_id{extra_columns}
    FROM {history} WHERE _valid_to IS NULL;
