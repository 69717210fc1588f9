-- What downstream systems read: live rows only (open, not deleted versions), without engine
-- bookkeeping. loaded_at comes first so that items added to the catalog later append
-- (CREATE OR REPLACE VIEW can only add columns at the end).
CREATE OR REPLACE VIEW {current_view} AS
    SELECT _valid_from AS loaded_at, {column_names} FROM {history} WHERE _valid_to IS NULL AND _deleted_at IS NULL;
