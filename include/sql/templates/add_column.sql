-- A catalog item added after the table was created. Nullable, so existing rows stay valid.
ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {type};
