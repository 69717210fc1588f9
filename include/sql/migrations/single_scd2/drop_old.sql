-- The old consumer view and current table; the history table's primary key on (keys, _valid_from).
-- A view someone built on them makes the DROP fail with PostgreSQL's own message (nothing changes).
DROP VIEW IF EXISTS {current_view};
DROP TABLE {table};
ALTER TABLE {history} DROP CONSTRAINT IF EXISTS {history_pkey};
