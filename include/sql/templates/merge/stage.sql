-- Staging table for one load: the item columns, typed like the target. Dropped at commit.
CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {column_names} FROM {table} WITH NO DATA;
