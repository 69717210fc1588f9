-- Staging table for one load: the item columns, typed like the target, plus the file delivery
-- each row came from (NULL for table and API sources). Dropped at commit.
CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {column_names}, _delivery_id FROM {table} WITH NO DATA;
