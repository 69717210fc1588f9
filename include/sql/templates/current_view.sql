-- What downstream systems read: live rows only, without engine bookkeeping.
-- loaded_at comes first so that items added to the catalog later append (CREATE OR REPLACE VIEW
-- can only add columns at the end).
CREATE OR REPLACE VIEW {current_view} AS
    SELECT _loaded_at AS loaded_at, {column_names} FROM {table} WHERE _deleted_at IS NULL;
