-- Staging table for one load: the item columns, typed like the SCD2 table, their row hash
-- (baselib.loading.changes) and the file delivery each row came from (NULL for table and API
-- sources). Dropped at commit.
CREATE TEMP TABLE {staging} ON COMMIT DROP AS
    SELECT {column_names}, _row_hash, _delivery_id FROM {history} WITH NO DATA;
