-- Live rows of a base table (the engine's row-count and deletion checks compare the extract with it).
SELECT count(*) FROM {table} WHERE _deleted_at IS NULL
