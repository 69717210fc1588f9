-- The refresh keys this run recomputes: the union (distinct) of every input's changed and aged
-- keys, without NULLs. Dropped at the end of the extract's transaction.
CREATE TEMP TABLE {affected} ON COMMIT DROP AS
SELECT DISTINCT * FROM ({union}) AS k ({refresh_key}) WHERE {not_null}
