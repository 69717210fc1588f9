-- Bookkeeping columns of the single SCD2 layout, filled from the old current table.
-- Layouts written before file-drop sources (commits 552bfaf, 49aeb19) have no _delivery_id in
-- either table: both get it (NULL: no file delivery), so verify.sql reads it from both.
ALTER TABLE {table} ADD COLUMN IF NOT EXISTS _delivery_id bigint;
ALTER TABLE {history} ADD COLUMN IF NOT EXISTS _delivery_id bigint;
ALTER TABLE {history} ADD COLUMN IF NOT EXISTS _first_loaded_at timestamptz;
ALTER TABLE {history} ADD COLUMN IF NOT EXISTS _deleted_at timestamptz;
ALTER TABLE {history} DROP CONSTRAINT IF EXISTS {change_check};
ALTER TABLE {history} ADD CONSTRAINT {change_check} CHECK (_change IN ('I', 'U', 'D'));
UPDATE {history} AS h SET _first_loaded_at = t._first_loaded_at FROM {table} AS t WHERE {key_join_ht};
-- a key the old table lacked (never expected): its first version
UPDATE {history} AS h SET _first_loaded_at = (
    SELECT min(f._valid_from) FROM {history} AS f WHERE {key_join_hf}
) WHERE h._first_loaded_at IS NULL;
ALTER TABLE {history} ALTER COLUMN _first_loaded_at SET NOT NULL;
